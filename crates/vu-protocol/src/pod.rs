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

// SAFETY: integers: every bit pattern is valid, no padding.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for u16 {}
// SAFETY: as above.
unsafe impl Pod for u32 {}
// SAFETY: as above.
unsafe impl Pod for u64 {}
// SAFETY: an array of `Pod` elements has no padding between them (the
// element size is a multiple of its alignment) and any pattern is valid.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] where [T; N]: Default {}

/// Declares `#[repr(C)]` message bodies and implements [`Pod`] for them,
/// with compile-time proof of what `Pod` requires: every field's type is
/// itself `Pod` (integers, arrays of them, other bodies), and the fields
/// fill the struct exactly (the sum of their sizes is the struct's size, so
/// there is no padding) and as many bytes as the wire format says.
macro_rules! pod {
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        } = $size:literal;
    )*) => {$(
        $(#[$meta])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty ),*
        }

        const _: () = {
            const fn is_pod<T: $crate::pod::Pod>() {}
            $( is_pod::<$ty>(); )*
            assert!(
                ::core::mem::size_of::<$name>() == 0 $( + ::core::mem::size_of::<$ty>() )*,
                concat!(stringify!($name), " has padding")
            );
            assert!(
                ::core::mem::size_of::<$name>() == $size,
                concat!(stringify!($name), " is not the size of its wire format")
            );
        };

        // SAFETY: `repr(C)`, every field is `Pod` and the fields leave no
        // padding, both asserted at compile time just above.
        unsafe impl $crate::pod::Pod for $name {}
    )*};
}
pub(crate) use pod;
