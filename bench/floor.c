// The kernel floor with cgroups: what a container start of /bin/true cannot go below on this
// host. Makes a cgroup PARENT/floor-<pid> in every mounted cgroup hierarchy (v1 controllers,
// named v1 hierarchies and the cgroup2 tree: the ones hako puts a container in), joins them,
// clones a child into new PID, mount, UTS, IPC and net namespaces (as `unshare -pfmuin`) that
// chroots into ROOTFS and execs /bin/true, waits for it, moves back to its own cgroups and
// removes the ones it made. PARENT (e.g. /hako-bench-floor) is made if missing and left for
// the caller to remove. Exit status 0 only if all of that worked.
// Usage (root): floor PARENT ROOTFS
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXH 32
static struct { char dev[32], mnt[256], own[512]; int cpuset; } h[MAXH];
static int n;
static char procs[4096]; // /proc/self/cgroup

static void die(const char *what) { perror(what); exit(1); }

// Whether the comma-separated list has the item.
static int has(const char *list, const char *item, size_t len) {
  for (const char *p = list;; p++) {
    if (!strncmp(p, item, len) && (p[len] == ',' || p[len] == '\0')) return 1;
    if (!(p = strchr(p, ','))) return 0;
  }
}

// Our own cgroup in a hierarchy: the /proc/self/cgroup line "0::path" for cgroup2, for v1 the
// "N:ctl,...:path" line whose first controller (or name=...) the mount's options have.
static int own_cgroup(int v2, const char *opts, char *path, size_t size) {
  for (char *l = procs; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    char *ctl = strchr(l, ':') + 1, *p = strchr(ctl, ':') + 1;
    size_t first = strcspn(ctl, ",:");
    if (v2 ? p == ctl + 1 : p > ctl + 1 && has(opts, ctl, first)) {
      snprintf(path, size, "%.*s", (int)strcspn(p, "\n"), p);
      return 1;
    }
  }
  return 0;
}

static void put(const char *dir, const char *file, const char *val) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  FILE *f = fopen(p, "w");
  if (!f || fputs(val, f) < 0 || fclose(f)) die(p);
}

// mkdir; a new v1 cpuset cgroup has empty cpuset.cpus/mems (no task may join): copy the parent's.
static void mkcg(const char *dir, int cpuset, int may_exist) {
  if (mkdir(dir, 0755)) {
    if (errno == EEXIST && may_exist) return;
    die(dir);
  }
  if (!cpuset) return;
  for (int i = 0; i < 2; i++) {
    const char *f = i ? "cpuset.mems" : "cpuset.cpus";
    char p[600], v[256] = "";
    snprintf(p, sizeof p, "%s/../%s", dir, f);
    FILE *in = fopen(p, "r");
    if (!in || !fgets(v, sizeof v, in)) die(p);
    fclose(in);
    put(dir, f, v);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s PARENT ROOTFS\n", argv[0]); return 2; }
  char line[4096], pid[16];
  snprintf(pid, sizeof pid, "%d", getpid());

  FILE *pc = fopen("/proc/self/cgroup", "r");
  if (!pc) die("/proc/self/cgroup");
  procs[fread(procs, 1, sizeof procs - 1, pc)] = '\0';
  fclose(pc);
  // The hierarchies: each cgroup/cgroup2 filesystem once (the first mount; later ones are binds).
  FILE *mi = fopen("/proc/self/mountinfo", "r");
  if (!mi) die("/proc/self/mountinfo");
  while (fgets(line, sizeof line, mi)) {
    char dev[32], root[256], mnt[256], fs[32], opts[1024];
    char *dash = strstr(line, " - ");
    if (!dash || sscanf(line, "%*s %*s %31s %255s %255s", dev, root, mnt) != 3 ||
        sscanf(dash, " - %31s %*s %1023s", fs, opts) != 2)
      continue;
    if (strcmp(fs, "cgroup") && strcmp(fs, "cgroup2")) continue;
    int seen = 0;
    for (int i = 0; i < n; i++) seen |= !strcmp(h[i].dev, dev);
    if (seen) continue;
    if (n == MAXH) { fprintf(stderr, "too many cgroup hierarchies\n"); return 1; }
    char own[512];
    if (!own_cgroup(!strcmp(fs, "cgroup2"), opts, own, sizeof own)) {
      fprintf(stderr, "%s: not in /proc/self/cgroup\n", mnt);
      return 1;
    }
    // The path as seen below the mount's root (not "/" inside a cgroup namespace).
    size_t rl = strcmp(root, "/") && !strncmp(own, root, strlen(root)) ? strlen(root) : 0;
    strcpy(h[n].dev, dev);
    strcpy(h[n].mnt, mnt);
    snprintf(h[n].own, sizeof h[n].own, "%s%s", mnt, own + rl);
    h[n].cpuset = !strcmp(fs, "cgroup") && has(opts, "cpuset", 6);
    n++;
  }
  fclose(mi);
  if (!n) { fprintf(stderr, "no cgroup hierarchy is mounted\n"); return 1; }

  char dir[MAXH][600];
  for (int i = 0; i < n; i++) {
    snprintf(dir[i], sizeof dir[i], "%s%s", h[i].mnt, argv[1]);
    mkcg(dir[i], h[i].cpuset, 1);
    snprintf(dir[i] + strlen(dir[i]), sizeof dir[i] - strlen(dir[i]), "/floor-%s", pid);
    mkcg(dir[i], h[i].cpuset, 0);
    put(dir[i], "cgroup.procs", pid);
  }

  // fork() into new namespaces (a NULL stack: the child runs on a copy of ours).
  pid_t c = syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                                   CLONE_NEWNET | SIGCHLD, NULL, NULL, NULL, NULL);
  if (c < 0) die("clone");
  if (c == 0) {
    // As unshare(1) does, and a runtime must: nothing mounted here propagates to the host.
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("making / private");
    if (chroot(argv[2]) || chdir("/")) die(argv[2]);
    execl("/bin/true", "true", (char *)NULL);
    die("exec /bin/true");
  }
  int st;
  if (waitpid(c, &st, 0) != c) die("waitpid");

  for (int i = 0; i < n; i++) {
    put(h[i].own, "cgroup.procs", pid);
    if (rmdir(dir[i])) die(dir[i]);
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st)) { fprintf(stderr, "/bin/true: status %d\n", st); return 1; }
  return 0;
}
