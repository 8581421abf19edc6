//! Linux's errno values and their glibc `strerror` texts. Every fallible socket call returns
//! an [`Errno`]; it converts to `std::io::Error` with that `raw_os_error`, whose `kind()` is
//! then the one `std` gives that errno on Linux.

use core::fmt;

macro_rules! errnos {
    ($($name:ident = $num:literal, $text:literal;)*) => {
        /// A Linux errno (asm-generic numbering, as on x86-64 and arm64).
        #[allow(clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum Errno {
            $(#[doc = $text] $name = $num,)*
        }

        impl Errno {
            /// Every errno synq knows.
            pub const ALL: &'static [Errno] = &[$(Errno::$name),*];

            /// The errno number.
            pub const fn raw(self) -> i32 {
                self as i32
            }
            /// The symbolic name, e.g. `"EADDRINUSE"`.
            pub const fn name(self) -> &'static str {
                match self { $(Errno::$name => stringify!($name),)* }
            }
            /// glibc's `strerror` text, e.g. `"Address already in use"`.
            pub const fn message(self) -> &'static str {
                match self { $(Errno::$name => $text,)* }
            }
            /// The errno with this number, if synq knows it.
            pub fn from_raw(n: i32) -> Option<Errno> {
                match n { $($num => Some(Errno::$name),)* _ => None }
            }
            /// The errno with this symbolic name (as packetdrill scripts write them).
            pub fn from_name(name: &str) -> Option<Errno> {
                match name { $(stringify!($name) => Some(Errno::$name),)* _ => None }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    EBADF = 9, "Bad file descriptor";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    EINVAL = 22, "Invalid argument";
    ENFILE = 23, "Too many open files in system";
    EMFILE = 24, "Too many open files";
    ENOTTY = 25, "Inappropriate ioctl for device";
    ENOSPC = 28, "No space left on device";
    EPIPE = 32, "Broken pipe";
    ERANGE = 34, "Numerical result out of range";
    ENOSYS = 38, "Function not implemented";
    ENONET = 64, "Machine is not on the network";
    ENOTSOCK = 88, "Socket operation on non-socket";
    EDESTADDRREQ = 89, "Destination address required";
    EMSGSIZE = 90, "Message too long";
    EPROTOTYPE = 91, "Protocol wrong type for socket";
    ENOPROTOOPT = 92, "Protocol not available";
    EPROTONOSUPPORT = 93, "Protocol not supported";
    ESOCKTNOSUPPORT = 94, "Socket type not supported";
    EOPNOTSUPP = 95, "Operation not supported";
    EPFNOSUPPORT = 96, "Protocol family not supported";
    EAFNOSUPPORT = 97, "Address family not supported by protocol";
    EADDRINUSE = 98, "Address already in use";
    EADDRNOTAVAIL = 99, "Cannot assign requested address";
    ENETDOWN = 100, "Network is down";
    ENETUNREACH = 101, "Network is unreachable";
    ENETRESET = 102, "Network dropped connection on reset";
    ECONNABORTED = 103, "Software caused connection abort";
    ECONNRESET = 104, "Connection reset by peer";
    ENOBUFS = 105, "No buffer space available";
    EISCONN = 106, "Transport endpoint is already connected";
    ENOTCONN = 107, "Transport endpoint is not connected";
    ESHUTDOWN = 108, "Cannot send after transport endpoint shutdown";
    ETIMEDOUT = 110, "Connection timed out";
    ECONNREFUSED = 111, "Connection refused";
    EHOSTDOWN = 112, "Host is down";
    EHOSTUNREACH = 113, "No route to host";
    EALREADY = 114, "Operation already in progress";
    EINPROGRESS = 115, "Operation now in progress";
}

impl Errno {
    /// `EWOULDBLOCK` is `EAGAIN` on Linux.
    pub const EWOULDBLOCK: Errno = Errno::EAGAIN;
}

/// `EADDRINUSE (Address already in use)`, the way packetdrill and strace print it.
impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.message())
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> std::io::Error {
        std::io::Error::from_raw_os_error(e.raw())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn converts_to_io_error_with_raw_os_error_and_kind() {
        let cases = [
            (Errno::EADDRINUSE, 98, ErrorKind::AddrInUse),
            (Errno::EADDRNOTAVAIL, 99, ErrorKind::AddrNotAvailable),
            (Errno::EINVAL, 22, ErrorKind::InvalidInput),
            (Errno::EAGAIN, 11, ErrorKind::WouldBlock),
            (Errno::EACCES, 13, ErrorKind::PermissionDenied),
            (Errno::EPERM, 1, ErrorKind::PermissionDenied),
            (Errno::ECONNREFUSED, 111, ErrorKind::ConnectionRefused),
            (Errno::ECONNRESET, 104, ErrorKind::ConnectionReset),
            (Errno::ECONNABORTED, 103, ErrorKind::ConnectionAborted),
            (Errno::ETIMEDOUT, 110, ErrorKind::TimedOut),
            (Errno::ENOTCONN, 107, ErrorKind::NotConnected),
            (Errno::EPIPE, 32, ErrorKind::BrokenPipe),
            (Errno::ENOSYS, 38, ErrorKind::Unsupported),
            (Errno::EHOSTUNREACH, 113, ErrorKind::HostUnreachable),
            (Errno::ENETUNREACH, 101, ErrorKind::NetworkUnreachable),
        ];
        for (errno, raw, kind) in cases {
            let io: std::io::Error = errno.into();
            assert_eq!(io.raw_os_error(), Some(raw), "{errno}");
            assert_eq!(io.kind(), kind, "{errno}");
        }
    }

    #[test]
    fn numbers_and_texts_match_this_system() {
        for &e in Errno::ALL {
            assert_eq!(Errno::from_raw(e.raw()), Some(e));
            assert_eq!(Errno::from_name(e.name()), Some(e));
            // std's Display of an OS error quotes the libc's strerror: ours must agree.
            let os = std::io::Error::from_raw_os_error(e.raw()).to_string();
            assert!(
                os.starts_with(e.message()),
                "{}: ours {:?}, libc {:?}",
                e.name(),
                e.message(),
                os
            );
        }
        assert_eq!(
            Errno::EINPROGRESS.to_string(),
            "EINPROGRESS (Operation now in progress)"
        );
    }
}
