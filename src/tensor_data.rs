//! Tensor data (MiniTorch task 2.1): a shared storage buffer seen through a [`Layout`].
//!
//! Several tensors can share one storage (a permuted or viewed tensor is the same buffer with a
//! different layout). A `TensorData` is cheap to clone: it clones a handle, not the buffer.

use crate::error::{Error, Result};
use crate::layout::{Dims, Layout, check_shape};
use crate::random::Rng;
use std::cell::{Ref, RefCell, RefMut};
use std::fmt;
use std::rc::Rc;

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
#[derive(Clone, Debug)]
pub struct Storage(Rc<RefCell<Buffer>>);

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
        Storage(Rc::new(RefCell::new(Buffer::Host(values))))
    }

    /// Wraps device memory.
    pub fn device(memory: Box<dyn DeviceMemory>) -> Storage {
        Storage(Rc::new(RefCell::new(Buffer::Device(memory))))
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
        Rc::ptr_eq(&self.0, &other.0)
    }
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
    layout: Rc<Layout>,
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
            layout: Rc::new(Layout::packed(shape)),
        })
    }

    /// Reads an existing (shared, not copied) storage through `layout`; every position the
    /// layout reaches must lie inside the storage.
    pub fn from_parts(storage: Storage, layout: Layout) -> Result<TensorData> {
        if layout.span() > storage.len() {
            return Err(Error::BadStrides {
                op: "tensor_data",
                shape: layout.shape.to_vec(),
                strides: layout.strides.to_vec(),
            });
        }
        Ok(TensorData {
            storage,
            layout: Rc::new(layout),
        })
    }

    /// Wraps a fresh packed buffer of an already-checked shape (backends use this).
    pub(crate) fn packed(values: Vec<f64>, shape: Dims) -> TensorData {
        debug_assert_eq!(values.len(), shape.product());
        TensorData {
            storage: Storage::new(values),
            layout: Rc::new(Layout::packed(shape)),
        }
    }

    /// The same storage through another layout (the caller has validated it).
    pub(crate) fn relayout(&self, layout: Layout) -> TensorData {
        TensorData {
            storage: self.storage.clone(),
            layout: Rc::new(layout),
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
        &self.layout.shape
    }

    /// The strides.
    pub fn strides(&self) -> &[usize] {
        &self.layout.strides
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
        let pos = self.index(&signed(index))?;
        Ok(self.storage.read()?[pos])
    }

    /// Writes the value at `index` (visible through every tensor sharing the storage).
    pub fn set(&self, index: &[usize], value: f64) -> Result<()> {
        let pos = self.index(&signed(index))?;
        self.storage.host_mut()?[pos] = value;
        Ok(())
    }

    /// Same storage, dimensions reordered (see [`Layout::permute`]).
    pub fn permute(&self, order: &[usize]) -> Result<TensorData> {
        Ok(self.relayout(self.layout.permute(order)?))
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
        let mut idx = self.layout.shape;
        for d in idx.iter_mut() {
            *d = rng.below(*d);
        }
        idx
    }

    /// The values in row-major order of the shape (a packed copy on the host).
    pub fn to_vec(&self) -> Result<Vec<f64>> {
        let storage = self.storage.read()?;
        if self.is_contiguous() {
            return Ok(storage[self.layout.offset..self.layout.offset + self.size()].to_vec());
        }
        Ok(self
            .indices()
            .map(|i| storage[self.layout.position(&i)])
            .collect())
    }

    /// The original MiniTorch's text rendering: `%3.2f` values in nested brackets.
    pub fn to_string_original(&self) -> String {
        let storage = match self.storage.read() {
            Ok(values) => values,
            Err(e) => return format!("<unreadable device tensor: {e}>"),
        };
        let shape = self.shape();
        let mut s = String::new();
        for index in self.indices() {
            let mut open = String::new();
            for d in (0..shape.len()).rev() {
                if index[d] != 0 {
                    break;
                }
                open = format!("\n{}[{}", "\t".repeat(d), open);
            }
            s.push_str(&open);
            s.push_str(&format!("{:3.2}", storage[self.layout.position(&index)]));
            let mut close = String::new();
            for d in (0..shape.len()).rev() {
                if index[d] != shape[d] - 1 {
                    break;
                }
                close.push(']');
            }
            if close.is_empty() {
                s.push(' ');
            } else {
                s.push_str(&close);
            }
        }
        s
    }
}

/// Indices as signed values, for the shared checked path.
fn signed(index: &[usize]) -> Vec<i64> {
    index.iter().map(|&i| i as i64).collect()
}

impl fmt::Display for TensorData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_original())
    }
}
