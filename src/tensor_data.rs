//! Tensor data (MiniTorch task 2.1): a shared storage buffer seen through a [`Layout`].
//!
//! Several tensors can share one storage (a permuted or viewed tensor is the same buffer with a
//! different layout). A `TensorData` is cheap to clone: it clones a handle, not the buffer.

pub mod pool;

use crate::error::{Error, Result};
use crate::layout::{Dims, Layout, check_shape};
use crate::random::Rng;
use std::cell::{Ref, RefCell, RefMut};
use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::OnceLock;

/// Memory owned by an accelerator (implemented by the CUDA backend). Tensor code never reads
/// it directly: it asks for a host copy.
pub trait DeviceMemory: fmt::Debug {
    /// Number of f64 values.
    fn len(&self) -> usize;
    /// True when it holds no values.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies every value to the host.
    fn read(&self) -> Result<Vec<f64>>;
    /// For the owning backend to recover its concrete type.
    fn as_any(&self) -> &dyn std::any::Any;
}

#[derive(Debug)]
enum Buffer {
    Host(Vec<f64>),
    Device(Box<dyn DeviceMemory>),
}

/// A shared, flat buffer of f64 values, in host memory or in an accelerator's.
///
/// When the last handle to a host buffer is dropped, the buffer goes to this thread's
/// [`pool`] for the next tensor of the same size instead of back to the allocator.
#[derive(Debug)]
pub struct Storage(ManuallyDrop<pool::Shell>);

impl Clone for Storage {
    fn clone(&self) -> Storage {
        Storage(ManuallyDrop::new(Rc::clone(&self.0)))
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        // SAFETY: this is the handle's destructor: `self.0` is taken exactly once and never
        // used again.
        let shell = unsafe { ManuallyDrop::take(&mut self.0) };
        pool::give_back(shell);
    }
}

/// Values readable on the host: borrowed from host storage, or copied from a device.
pub enum HostView<'a> {
    /// Host storage, borrowed.
    Borrowed(Ref<'a, [f64]>),
    /// A copy of device storage.
    Copied(Vec<f64>),
}

impl std::ops::Deref for HostView<'_> {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        match self {
            HostView::Borrowed(r) => r,
            HostView::Copied(v) => v,
        }
    }
}

impl Storage {
    /// Wraps a host buffer.
    pub fn new(values: Vec<f64>) -> Storage {
        Storage(ManuallyDrop::new(pool::shell(Buffer::Host(values))))
    }

    /// Wraps device memory.
    pub fn device(memory: Box<dyn DeviceMemory>) -> Storage {
        Storage(ManuallyDrop::new(Rc::new(RefCell::new(Buffer::Device(
            memory,
        )))))
    }

    /// True for host memory.
    pub fn is_host(&self) -> bool {
        matches!(*self.0.borrow(), Buffer::Host(_))
    }

    /// The values, readable on the host (device memory is copied).
    pub fn read(&self) -> Result<HostView<'_>> {
        let buffer = self.0.borrow();
        match &*buffer {
            Buffer::Host(_) => Ok(HostView::Borrowed(Ref::map(buffer, |b| match b {
                Buffer::Host(v) => v.as_slice(),
                Buffer::Device(_) => unreachable!("matched Host above"),
            }))),
            Buffer::Device(memory) => Ok(HostView::Copied(memory.read()?)),
        }
    }

    /// The host values, writable; device memory cannot be written from the host.
    pub fn host_mut(&self) -> Result<RefMut<'_, [f64]>> {
        RefMut::filter_map(self.0.borrow_mut(), |b| match b {
            Buffer::Host(v) => Some(v.as_mut_slice()),
            Buffer::Device(_) => None,
        })
        .map_err(|_| Error::Invalid {
            what: "storage",
            message: "the values are in device memory and cannot be written from the host; \
                      copy the tensor to a CPU backend with .to(Backend::Fast)"
                .into(),
        })
    }

    /// The device memory, for the backend that owns it.
    pub fn device_memory(&self) -> Option<Ref<'_, dyn DeviceMemory>> {
        Ref::filter_map(self.0.borrow(), |b| match b {
            Buffer::Device(m) => Some(m.as_ref()),
            Buffer::Host(_) => None,
        })
        .ok()
    }

    /// Number of values in the buffer.
    pub fn len(&self) -> usize {
        match &*self.0.borrow() {
            Buffer::Host(v) => v.len(),
            Buffer::Device(m) => m.len(),
        }
    }

    /// True for an empty buffer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when both handles share one buffer.
    pub fn same_buffer(&self, other: &Storage) -> bool {
        Rc::ptr_eq(&*self.0, &*other.0)
    }
}

/// Requests of at least this many bytes are compared with the machine's memory first.
const CHECK_FROM_BYTES: usize = 1 << 30;

/// The machine's RAM plus swap, in bytes (`None` where it cannot be read).
fn machine_memory() -> Option<u64> {
    static TOTAL: OnceLock<Option<u64>> = OnceLock::new();
    *TOTAL.get_or_init(|| {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: `sysinfo` only writes into the zeroed struct we pass, which we own.
            let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
            // SAFETY: `info` is a valid, writable `sysinfo` struct for the call's duration.
            if unsafe { libc::sysinfo(&mut info) } == 0 {
                let unit = u64::from(info.mem_unit.max(1));
                return Some((info.totalram as u64 + info.totalswap as u64).saturating_mul(unit));
            }
        }
        None
    })
}

/// Checks that `n` f64 values for a tensor of `shape` can be asked for: their byte size fits
/// an allocation (`isize::MAX`), and a request of a gigabyte or more is below the machine's
/// memory (with a lazily reserving allocator a bigger one would "succeed" and then be killed).
fn check_alloc(op: &'static str, n: usize, shape: &[usize]) -> Result<std::alloc::Layout> {
    let bytes = n as u128 * 8;
    let err = |limit| Error::Alloc {
        op,
        shape: shape.to_vec(),
        bytes,
        limit,
    };
    let layout = std::alloc::Layout::array::<f64>(n).map_err(|_| err(None))?;
    if layout.size() >= CHECK_FROM_BYTES
        && let Some(total) = machine_memory()
        && bytes > u128::from(total)
    {
        return Err(err(Some(total)));
    }
    Ok(layout)
}

/// A buffer of `n` zeros for a tensor of `shape` made by `op`: an [`Error::Alloc`], never an
/// abort, when the machine cannot provide it. Large buffers come zeroed from the allocator
/// (fresh pages), as `vec![0.0; n]` would.
pub(crate) fn zeroed(op: &'static str, n: usize, shape: &[usize]) -> Result<Vec<f64>> {
    let layout = check_alloc(op, n, shape)?;
    if n == 0 {
        return Ok(Vec::new());
    }
    if let Some(mut values) = pool::take_buffer(n) {
        values.clear();
        values.resize(n, 0.0);
        return Ok(values);
    }
    // SAFETY: `layout` is the non-zero-sized layout of `[f64; n]` (checked by
    // `Layout::array` in `check_alloc`, and n > 0 here).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<f64>();
    if ptr.is_null() {
        return Err(Error::Alloc {
            op,
            shape: shape.to_vec(),
            bytes: layout.size() as u128,
            limit: None,
        });
    }
    // SAFETY: `ptr` comes from the global allocator (the one `Vec` uses) with the layout of
    // `[f64; n]`, i.e. capacity n; its bytes are zero and all-zero bits are the f64 0.0, so
    // all n elements are initialised.
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

/// The values of an exact-size iterator in a new buffer for a tensor of `shape` (no zeroing
/// first: each value is written once); an [`Error::Alloc`], never an abort, when the machine
/// cannot provide it.
pub(crate) fn collect_values(
    op: &'static str,
    shape: &[usize],
    values: impl ExactSizeIterator<Item = f64>,
) -> Result<Vec<f64>> {
    let mut out = reserved(op, values.len(), shape)?;
    out.extend(values);
    Ok(out)
}

/// A buffer of `n` copies of `value`; see [`zeroed`].
pub(crate) fn filled(op: &'static str, n: usize, value: f64, shape: &[usize]) -> Result<Vec<f64>> {
    if value.to_bits() == 0 {
        return zeroed(op, n, shape);
    }
    let mut out = reserved(op, n, shape)?;
    out.resize(n, value);
    Ok(out)
}

/// An empty buffer with room for exactly `n` values (checked as in [`zeroed`]).
pub(crate) fn reserved(op: &'static str, n: usize, shape: &[usize]) -> Result<Vec<f64>> {
    check_alloc(op, n, shape)?;
    if let Some(mut values) = pool::take_buffer(n) {
        values.clear();
        return Ok(values);
    }
    let mut out = Vec::new();
    out.try_reserve_exact(n).map_err(|_| Error::Alloc {
        op,
        shape: shape.to_vec(),
        bytes: n as u128 * 8,
        limit: None,
    })?;
    Ok(out)
}

/// A storage buffer with the layout that reads it.
///
/// Both parts are shared handles (16 bytes in all), so tensor data moves and clones as cheaply
/// as a pointer: it passes through every op's forward and backward several times, and an inline
/// layout (two arrays of [`MAX_DIMS`](crate::layout::MAX_DIMS) entries) made those copies a
/// fifth of a training step.
#[derive(Clone, Debug)]
pub struct TensorData {
    storage: Storage,
    layout: SharedLayout,
}

/// A shared layout whose allocation goes back to this thread's [`pool`] when the last handle
/// is dropped (views, permutes and matmul's lifts make one per call).
#[derive(Debug)]
struct SharedLayout(ManuallyDrop<Rc<Layout>>);

impl SharedLayout {
    fn new(layout: Layout) -> SharedLayout {
        SharedLayout(ManuallyDrop::new(pool::layout(layout)))
    }
}

impl Clone for SharedLayout {
    fn clone(&self) -> SharedLayout {
        SharedLayout(ManuallyDrop::new(Rc::clone(&self.0)))
    }
}

impl Deref for SharedLayout {
    type Target = Layout;
    fn deref(&self) -> &Layout {
        &self.0
    }
}

impl Drop for SharedLayout {
    fn drop(&mut self) {
        // SAFETY: this is the handle's destructor: `self.0` is taken exactly once and never
        // used again.
        let rc = unsafe { ManuallyDrop::take(&mut self.0) };
        pool::give_back_layout(rc);
    }
}

impl TensorData {
    /// Packs `values` in row-major order as `shape`; the length must equal the shape's size.
    ///
    /// ```
    /// use minitorch::TensorData;
    /// let t = TensorData::new(vec![0.0, 1.0, 2.0, 3.0], &[2, 2]).unwrap();
    /// assert_eq!(t.to_string(), "\n[\n\t[0.00 1.00]\n\t[2.00 3.00]]");
    /// ```
    pub fn new(values: Vec<f64>, shape: &[usize]) -> Result<TensorData> {
        let shape = check_shape("tensor", shape)?;
        if values.len() != shape.product() {
            return Err(Error::SizeMismatch {
                op: "tensor",
                from: vec![values.len()],
                from_size: values.len(),
                to: shape.to_vec(),
                to_size: shape.product(),
            });
        }
        Ok(TensorData {
            storage: Storage::new(values),
            layout: SharedLayout::new(Layout::packed(shape)),
        })
    }

    /// Reads an existing (shared, not copied) storage through `layout`; every position the
    /// layout reaches must lie inside the storage.
    ///
    /// ```
    /// use minitorch::{Layout, TensorData, tensor_data::Storage};
    /// let storage = Storage::new(vec![0.0; 6]);
    /// let ok = Layout::with_strides(&[3, 2], &[1, 3]).unwrap();
    /// assert!(TensorData::from_parts(storage.clone(), ok).is_ok());
    /// let too_far = Layout::new(&[3, 2], &[1, 3], 1).unwrap();
    /// assert!(TensorData::from_parts(storage, too_far).is_err());
    /// ```
    pub fn from_parts(storage: Storage, layout: Layout) -> Result<TensorData> {
        if layout.span() > storage.len() {
            return Err(Error::BadStrides {
                op: "tensor_data",
                shape: layout.shape().to_vec(),
                strides: layout.strides().to_vec(),
                offset: layout.offset(),
            });
        }
        Ok(TensorData {
            storage,
            layout: SharedLayout::new(layout),
        })
    }

    /// Wraps a fresh packed buffer of an already-checked shape (backends use this).
    /// [`packed`](TensorData::packed) for an output of `like`'s shape: when `like`'s layout is
    /// exactly the packed one of that shape, the output shares it (an elementwise op's output
    /// makes no layout of its own).
    pub(crate) fn packed_like(values: Vec<f64>, like: &TensorData) -> TensorData {
        if !like.layout.is_packed() {
            return TensorData::packed(values, like.layout.shape_dims());
        }
        // The kernels' unsafe code relies on this: checked in release builds too (O(1)).
        assert_eq!(values.len(), like.size(), "a packed buffer fills its shape");
        TensorData {
            storage: Storage::new(values),
            layout: like.layout.clone(),
        }
    }

    pub(crate) fn packed(values: Vec<f64>, shape: Dims) -> TensorData {
        // The kernels' unsafe code relies on this: checked in release builds too (O(1)).
        assert_eq!(
            values.len(),
            shape.product(),
            "a packed buffer fills its shape"
        );
        TensorData {
            storage: Storage::new(values),
            layout: SharedLayout::new(Layout::packed(shape)),
        }
    }

    /// A 2-D matrix as a batch of one, (1, m, n): the same storage and strides, no copy (how
    /// matmul lifts 2-D operands for [`TensorOps::matmul`](crate::backend::TensorOps::matmul)).
    pub(crate) fn lifted(&self) -> TensorData {
        self.relayout(self.layout().lift_to_batch())
    }

    /// The same storage through another layout, which the caller derived from this one and
    /// which reaches no further (permute, view, broadcast, narrow, matmul's lift).
    pub(crate) fn relayout(&self, layout: Layout) -> TensorData {
        // The kernels' unsafe code relies on this: checked in release builds too (O(1)).
        assert!(
            layout.span() <= self.storage.len(),
            "a derived layout stays inside its storage"
        );
        TensorData {
            storage: self.storage.clone(),
            layout: SharedLayout::new(layout),
        }
    }

    /// The storage handle.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.layout.shape()
    }

    /// The strides.
    pub fn strides(&self) -> &[usize] {
        self.layout.strides()
    }

    /// The storage position of index (0, 0, …).
    pub fn offset(&self) -> usize {
        self.layout.offset()
    }

    /// Number of elements.
    pub fn size(&self) -> usize {
        self.layout.size()
    }

    /// Number of dimensions.
    pub fn dims(&self) -> usize {
        self.layout.dims()
    }

    /// See [`Layout::is_contiguous`].
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// Storage position of an index (checked: right length, every entry in range).
    pub fn index(&self, index: &[i64]) -> Result<usize> {
        self.layout.checked_position(index)
    }

    /// The value at `index`.
    pub fn get(&self, index: &[usize]) -> Result<f64> {
        let pos = self.layout.position_checked("get", index)?;
        Ok(self.storage.read()?[pos])
    }

    /// Writes the value at `index` (visible through every tensor sharing the storage).
    pub fn set(&self, index: &[usize], value: f64) -> Result<()> {
        let pos = self.layout.position_checked("set", index)?;
        self.storage.host_mut()?[pos] = value;
        Ok(())
    }

    /// Same storage, dimensions reordered (see [`Layout::permute`]).
    pub fn permute(&self, order: &[usize]) -> Result<TensorData> {
        Ok(self.relayout(self.layout.permute(order)?))
    }

    /// Same storage with a size-1 dimension inserted before `dim` (no copy).
    pub(crate) fn unsqueeze(&self, dim: usize) -> Result<TensorData> {
        Ok(self.relayout(self.layout.unsqueeze(dim)?))
    }

    /// Same storage with the size-1 dimension `dim` removed (no copy).
    pub(crate) fn squeeze(&self, dim: usize) -> TensorData {
        self.relayout(self.layout.squeeze(dim))
    }

    /// Same storage, another shape (see [`Layout::view`]).
    pub fn view(&self, shape: &[usize]) -> Result<TensorData> {
        Ok(self.relayout(self.layout.view(shape)?))
    }

    /// Every index in row-major order.
    pub fn indices(&self) -> crate::layout::Indices {
        self.layout.indices()
    }

    /// A uniformly random valid index.
    pub fn sample(&self, rng: &mut Rng) -> Dims {
        let mut idx = self.layout.shape_dims();
        for d in idx.iter_mut() {
            *d = rng.below(*d);
        }
        idx
    }

    /// The values in row-major order of the shape (a packed copy on the host).
    pub fn to_vec(&self) -> Result<Vec<f64>> {
        let storage = self.storage.read()?;
        let mut out = zeroed("to_vec", self.size(), self.shape())?;
        if self.is_contiguous() {
            out.copy_from_slice(&storage[self.offset()..][..self.size()]);
            return Ok(out);
        }
        // Row by row along the last dimension, stepping an odometer over the others (one
        // position update per row instead of an index-to-position sum per element).
        let (shape, strides) = (self.shape(), self.strides());
        let last = shape.len() - 1;
        let (n, step) = (shape[last], strides[last]);
        let mut index = [0usize; crate::layout::MAX_DIMS];
        let mut pos = self.offset();
        for row in out.chunks_exact_mut(n) {
            for (k, slot) in row.iter_mut().enumerate() {
                *slot = storage[pos + k * step];
            }
            let mut d = last;
            while d > 0 {
                d -= 1;
                if shape[d] == 1 {
                    continue; // its stride never applies (and may be anything)
                }
                index[d] += 1;
                // In range: the position stays inside the layout's span (no overflow).
                if index[d] < shape[d] {
                    pos += strides[d];
                    break;
                }
                // Wrapped: back to index 0 of dim d, (shape − 1) · stride ≤ span.
                pos -= strides[d] * (shape[d] - 1);
                index[d] = 0;
            }
        }
        Ok(out)
    }

    /// The original MiniTorch's text rendering: `%3.2f` values in nested brackets.
    ///
    /// Tensors of more than [`PRINT_LIMIT`] elements are summarised as PyTorch does: the first
    /// and last [`PRINT_EDGE`] entries of each long dimension, with `...` between.
    pub fn to_string_original(&self) -> String {
        let storage = match self.storage.read() {
            Ok(values) => values,
            Err(e) => return format!("<unreadable device tensor: {e}>"),
        };
        let shape = self.shape();
        let summarise = self.size() > PRINT_LIMIT;
        // The indices shown along each dimension (all, or both ends).
        let shown: Vec<Vec<usize>> = shape
            .iter()
            .map(|&n| {
                if summarise && n > 2 * PRINT_EDGE {
                    (0..PRINT_EDGE).chain(n - PRINT_EDGE..n).collect()
                } else {
                    (0..n).collect()
                }
            })
            .collect();
        let mut s = String::new();
        let mut index = vec![0; shape.len()];
        let mut at = vec![0; shape.len()]; // position within `shown` per dim
        loop {
            for d in 0..shape.len() {
                index[d] = shown[d][at[d]];
            }
            let mut open = String::new();
            for d in (0..shape.len()).rev() {
                if at[d] != 0 {
                    break;
                }
                open = format!("\n{}[{}", "\t".repeat(d), open);
            }
            s.push_str(&open);
            s.push_str(&format!("{:3.2}", storage[self.layout.position(&index)]));
            // Advance like an odometer over the shown indices.
            let mut close = String::new();
            let mut d = shape.len();
            let mut done = true;
            while d > 0 {
                d -= 1;
                at[d] += 1;
                if at[d] < shown[d].len() {
                    done = false;
                    break;
                }
                at[d] = 0;
                close.push(']');
            }
            if close.is_empty() {
                s.push(' ');
            } else {
                s.push_str(&close);
            }
            if done {
                break;
            }
            // Crossing a gap in dimension d: mark the skipped entries.
            if shown[d][at[d]] != shown[d][at[d] - 1] + 1 {
                if d + 1 == shape.len() {
                    s.push_str("... ");
                } else {
                    s.push_str(&format!("\n{}...", "\t".repeat(d + 1)));
                }
            }
        }
        s
    }
}

/// Tensors with more elements than this print summarised (PyTorch's default threshold).
pub const PRINT_LIMIT: usize = 1000;
/// Entries shown at each end of a summarised dimension.
pub const PRINT_EDGE: usize = 3;

impl fmt::Display for TensorData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_original())
    }
}
