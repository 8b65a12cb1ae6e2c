"""The kernel-level filter of the code sandbox: a seccomp-bpf program, assembled here by hand.

The sandbox's child installs it (``_sandbox_child.install_filter``) after loading its modules and
before any model-written code runs. It is a deny-list: network sockets, new processes and
programs, ptrace and signals to other processes, opening files for writing and every other way
of changing the file system, mounts, namespaces, io_uring, bpf and kernel modules fail with
``EPERM``; everything else the interpreter needs stays allowed. A system call made under another
ABI (i386 or x32 on x86_64) kills the process, since the numbers below would not apply to it.

Syscall numbers differ between architectures: only x86_64 and aarch64 are covered, and
:func:`build_filter` returns None elsewhere rather than claim a protection it cannot give.
"""

from __future__ import annotations

import struct

# Names of denied system calls, as in <asm/unistd.h>; not every one exists on every architecture.
DENIED = (
    # network
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    # processes and programs
    "fork", "vfork", "clone", "clone3", "execve", "execveat",
    # other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kill", "tkill",
    "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal",
    # the file system (open and openat are allowed for reading only, below)
    "creat", "openat2", "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir",
    "mkdirat", "rmdir", "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat", "chmod",
    "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "truncate",
    "ftruncate", "fallocate", "utime", "utimes", "utimensat", "futimesat", "setxattr",
    "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "name_to_handle_at", "open_by_handle_at", "memfd_create", "acct", "quotactl", "uselib",
    # io_uring runs operations that seccomp never sees
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    # mounts, namespaces and the kernel itself
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "fsopen", "fsconfig",
    "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr", "bpf", "perf_event_open",
    "userfaultfd", "keyctl", "add_key", "request_key", "init_module", "finit_module",
    "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "syslog",
    "personality", "fanotify_init", "sethostname", "setdomainname", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "iopl", "ioperm", "modify_ldt",
)  # fmt: skip

# From linux/arch/x86/entry/syscalls/syscall_64.tbl.
_X86_64 = {
    "socket": 41, "socketpair": 53, "connect": 42, "bind": 49, "listen": 50, "accept": 43,
    "accept4": 288, "fork": 57, "vfork": 58, "clone": 56, "clone3": 435, "execve": 59,
    "execveat": 322, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "process_madvise": 440, "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129,
    "rt_tgsigqueueinfo": 297, "pidfd_open": 434, "pidfd_getfd": 438, "pidfd_send_signal": 424,
    "creat": 85, "openat2": 437, "unlink": 87, "unlinkat": 263, "rename": 82, "renameat": 264,
    "renameat2": 316, "mkdir": 83, "mkdirat": 258, "rmdir": 84, "link": 86, "linkat": 265,
    "symlink": 88, "symlinkat": 266, "mknod": 133, "mknodat": 259, "chmod": 90, "fchmod": 91,
    "fchmodat": 268, "fchmodat2": 452, "chown": 92, "fchown": 93, "lchown": 94, "fchownat": 260,
    "truncate": 76, "ftruncate": 77, "fallocate": 285, "utime": 132, "utimes": 235,
    "utimensat": 280, "futimesat": 261, "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190,
    "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199, "name_to_handle_at": 303,
    "open_by_handle_at": 304, "memfd_create": 319, "acct": 163, "quotactl": 179, "uselib": 134,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "mount": 165,
    "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429,
    "open_tree": 428, "mount_setattr": 442, "bpf": 321, "perf_event_open": 298,
    "userfaultfd": 323, "keyctl": 250, "add_key": 248, "request_key": 249, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320,
    "reboot": 169, "swapon": 167, "swapoff": 168, "syslog": 103, "personality": 135,
    "fanotify_init": 300, "sethostname": 170, "setdomainname": 171, "settimeofday": 164,
    "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159, "iopl": 172, "ioperm": 173,
    "modify_ldt": 154, "open": 2, "openat": 257,
}  # fmt: skip

# From include/uapi/asm-generic/unistd.h (arm64 has no open, fork, unlink, ...: only the *at
# forms).
_AARCH64 = {
    "socket": 198, "socketpair": 199, "connect": 203, "bind": 200, "listen": 201,
    "accept": 202, "accept4": 242, "clone": 220, "clone3": 435, "execve": 221, "execveat": 281,
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "process_madvise": 440,
    "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240,
    "pidfd_open": 434, "pidfd_getfd": 438, "pidfd_send_signal": 424, "openat2": 437,
    "unlinkat": 35, "renameat": 38, "renameat2": 276, "mkdirat": 34, "linkat": 37,
    "symlinkat": 36, "mknodat": 33, "fchmod": 52, "fchmodat": 53, "fchmodat2": 452,
    "fchown": 55, "fchownat": 54, "truncate": 45, "ftruncate": 46, "fallocate": 47,
    "utimensat": 88, "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7, "removexattr": 14,
    "lremovexattr": 15, "fremovexattr": 16, "name_to_handle_at": 264, "open_by_handle_at": 265,
    "memfd_create": 279, "acct": 89, "quotactl": 60, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "mount": 40, "umount2": 39,
    "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
    "mount_setattr": 442, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
    "keyctl": 219, "add_key": 217, "request_key": 218, "init_module": 105,
    "finit_module": 273, "delete_module": 106, "kexec_load": 104, "kexec_file_load": 294,
    "reboot": 142, "swapon": 224, "swapoff": 225, "syslog": 116, "personality": 92,
    "fanotify_init": 262, "sethostname": 161, "setdomainname": 162, "settimeofday": 170,
    "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171, "openat": 56,
}  # fmt: skip


class _Arch:
    def __init__(self, audit: int, numbers: dict[str, int], x32_bit: int | None) -> None:
        self.audit = audit  # AUDIT_ARCH_* from <linux/audit.h>
        self.numbers = numbers
        self.x32_bit = x32_bit  # set in the numbers of another ABI sharing this architecture


ARCHITECTURES = {
    "x86_64": _Arch(0xC000003E, _X86_64, 0x40000000),
    "aarch64": _Arch(0xC00000B7, _AARCH64, None),
}

# Classic BPF opcodes and seccomp return values (<linux/filter.h>, <linux/seccomp.h>).
_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
KILL_PROCESS = 0x80000000
DENY = 0x00050000 | 1  # SECCOMP_RET_ERRNO | EPERM
ALLOW = 0x7FFF0000

# struct seccomp_data: nr, arch, instruction_pointer, then six 64-bit arguments (the low 32 bits
# come first on these little-endian architectures).
_NR, _ARCH = 0, 4


def _arg(index: int) -> int:
    return 16 + 8 * index


# O_WRONLY | O_RDWR | O_CREAT | O_TRUNC (the same on both architectures): any of them writes.
WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000
# Where each open-like call keeps its flags: open(path, flags), openat(dirfd, path, flags).
_OPEN_FLAGS_ARG = {"open": 1, "openat": 2}


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)  # struct sock_filter


def build_filter(machine: str) -> bytes | None:
    """The filter for ``machine`` (``os.uname().machine``); None where it is not covered."""
    arch = ARCHITECTURES.get(machine)
    if arch is None:
        return None
    ops = [
        _op(_LD_ABS, _ARCH),
        _op(_JEQ, arch.audit, jt=1),
        _op(_RET, KILL_PROCESS),
        _op(_LD_ABS, _NR),
    ]
    if arch.x32_bit is not None:
        ops += [_op(_JGE, arch.x32_bit, jf=1), _op(_RET, KILL_PROCESS)]
    for name in DENIED:
        if name in arch.numbers:
            ops += [_op(_JEQ, arch.numbers[name], jf=1), _op(_RET, DENY)]
    for name, index in _OPEN_FLAGS_ARG.items():
        if name in arch.numbers:
            ops += [
                _op(_JEQ, arch.numbers[name], jf=4),
                _op(_LD_ABS, _arg(index)),
                _op(_JSET, WRITE_FLAGS, jf=1),
                _op(_RET, DENY),
                _op(_RET, ALLOW),
            ]
    ops.append(_op(_RET, ALLOW))
    return b"".join(ops)
