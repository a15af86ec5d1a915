/*
 * hako's exec trampoline: the CVE-2019-5736 defence that costs no re-exec of the runtime.
 * See crates/libhako/src/exeguard.rs for why it exists and how it is used.
 *
 * The runtime copies this tiny program into a sealed memfd and the container process execs
 * it (execveat on the memfd) instead of the user program; it then execs the user program.
 * During that last execve the kernel resolves the program, its `#!` interpreter and its ELF
 * interpreter with this memfd as /proc/self/exe, so a container that points any of them at
 * /proc/self/exe reaches this sealed copy, never the runtime binary on the host.
 *
 * Freestanding: no libc, no relocations, a raw syscall per step.
 *
 * argv: [0] name, [1] stderr message prefix, [2] exit status on failure, [3] program path,
 *       [4...] the program's argv (argv[4] is its argv[0]).
 *
 * It holds no fd of the runtime: the process is dumpable again from the execveat of this
 * program until the program's execve, and any process of the container with the same uid may
 * then take its fds (pidfd_getfd). Every fd of the runtime is close-on-exec and gone before
 * this program runs, so a failed execve of the program is reported on the container's stderr
 * (prefix + errno text, as runc's init reports it) and in the exit status, nowhere else.
 */

#if defined(__x86_64__)
#define NR_write 1
#define NR_execve 59
#define NR_exit_group 231
static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return r;
}
__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	xor %rbp, %rbp\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call trampoline_main\n"
	"	hlt\n");
#elif defined(__aarch64__)
#define NR_write 64
#define NR_execve 221
#define NR_exit_group 94
static long sys3(long n, long a, long b, long c)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}
__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	mov x0, sp\n"
	"	bl trampoline_main\n"
	"	brk #0\n");
#else
#error "hako has no exec trampoline for this architecture (the runtime falls back to re-exec)"
#endif

static void __attribute__((noreturn)) die(long status)
{
	for (;;)
		sys3(NR_exit_group, status, 0, 0);
}

struct out {
	char b[8192];
	unsigned long n;
};

static void put(struct out *o, const char *s)
{
	while (*s && o->n < sizeof o->b)
		o->b[o->n++] = *s++;
}

static void put_num(struct out *o, unsigned long v)
{
	char d[24];
	int i = 0;
	do {
		d[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i < 24);
	while (i > 0 && o->n < sizeof o->b)
		o->b[o->n++] = d[--i];
}

static long num(const char *s)
{
	long v = 0;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (*s - '0');
	return *s ? -1 : v;
}

/* The error text of the errnos an execve can return, worded as the runtime words them. */
static const char *errno_text(long e)
{
	switch (e) {
	case 1: return "operation not permitted";
	case 2: return "no such file or directory";
	case 5: return "input/output error";
	case 7: return "argument list too long";
	case 8: return "exec format error";
	case 9: return "bad file descriptor";
	case 11: return "resource temporarily unavailable";
	case 12: return "cannot allocate memory";
	case 13: return "permission denied";
	case 14: return "bad address";
	case 20: return "not a directory";
	case 21: return "is a directory";
	case 22: return "invalid argument";
	case 23: return "too many open files in system";
	case 24: return "too many open files";
	case 26: return "text file busy";
	case 36: return "file name too long";
	case 38: return "function not implemented";
	case 40: return "too many levels of symbolic links";
	case 80: return "accessing a corrupted shared library";
	default: return 0;
	}
}

static void put_errno(struct out *o, long e)
{
	const char *t = errno_text(e);
	if (t) {
		put(o, t);
	} else {
		put(o, "errno ");
		put_num(o, (unsigned long)e);
	}
}

void __attribute__((noreturn, used)) trampoline_main(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	struct out o;
	long status, r;

	if (argc < 5) {
		static const char usage[] = "hako exec trampoline: not a command\n";
		sys3(NR_write, 2, (long)usage, sizeof usage - 1);
		die(127);
	}
	status = num(argv[2]);
	if (status < 0 || status > 255)
		status = 127;
	r = sys3(NR_execve, (long)argv[3], (long)(argv + 4), (long)envp);

	o.n = 0;
	put(&o, argv[1]);
	put_errno(&o, -r);
	put(&o, "\n");
	sys3(NR_write, 2, (long)o.b, (long)o.n);
	die(status);
}
