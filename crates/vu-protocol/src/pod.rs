//! Plain-old-data message bodies and their zero-copy byte views.

/// A `#[repr(C)]` message body with no padding and no invalid bit patterns.
///
/// # Safety
///
/// Implement only for `#[repr(C)]` types made of integers and arrays of
/// integers whose fields leave no padding bytes, so that every byte pattern
/// is a valid value and every byte of a value is initialised.
pub unsafe trait Pod: Copy + Default + 'static {
    /// Size of the body on the wire.
    const SIZE: usize = size_of::<Self>();

    /// Reads a value from the start of `bytes`, or `None` if it is too short.
    fn read_from(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < Self::SIZE {
            return None;
        }
        // SAFETY: `bytes` holds at least `SIZE` readable bytes, the read is
        // unaligned, and `Pod` guarantees any byte pattern is a valid `Self`.
        Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<Self>()) })
    }

    /// The value's bytes, in native byte order.
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Pod` guarantees no padding, so all `SIZE` bytes behind
        // `self` are initialised; the slice borrows `self` for its lifetime.
        unsafe { std::slice::from_raw_parts((self as *const Self).cast::<u8>(), Self::SIZE) }
    }
}
