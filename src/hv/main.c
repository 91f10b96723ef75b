/* SPDX-License-Identifier: MIT */
/*
 * v4vd: the V4V hypervisor for Linux domains.  Parses options, binds the
 * control socket, and runs the event loop that owns all state.
 */
#include "hv.h"
#include "viptables.h"
#include "vm/region.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char usage[] =
"Usage: v4vd [OPTION]...\n"
"The V4V hypervisor: delivers messages between domains into rings the\n"
"receivers registered, and enforces viptables.\n"
"\n"
"  -s, --socket PATH        control socket (default $V4V_SOCKET, else\n"
"                           " V4VP_DEFAULT_SOCKET ")\n"
"  -f, --foreground         stay in the foreground (logs to stderr)\n"
"      --strict             never share memory between domains: every\n"
"                           message is copied by the hypervisor\n"
"      --syslog             log to syslog instead of stderr\n"
"  -v, --verbose            log every ring and connection event\n"
"      --policy ACTION      viptables default policy: ACCEPT or REJECT\n"
"                           (default ACCEPT)\n"
"      --admin-group GROUP  members of GROUP may change viptables\n"
"                           (root always may)\n"
"      --max-ring-size N    largest ring, in bytes (default 16M)\n"
"      --domain-quota N     ring bytes per domain (default 1G)\n"
"      --max-rings N        rings per domain (default 16384)\n"
"      --max-conns N        control connections in all (default 4096);\n"
"                           the last 1/16 of them are kept for root and\n"
"                           --admin-group\n"
"      --max-conns-per-uid N  control connections of one user who is not\n"
"                           an administrator (default: a quarter of\n"
"                           --max-conns)\n"
"      --max-fds N          descriptors v4vd may hold for domains (default:\n"
"                           its open-file limit, raised to the hard limit,\n"
"                           less 32); the last 1/16 is for administrators\n"
"      --max-fds-per-uid N  of those, what one user who is not an\n"
"                           administrator may hold (default: a quarter)\n"
"      --copy-idle-us US    how long the copy engine (datagrams; strict\n"
"                           mode's streams) keeps polling after its last\n"
"                           copy (default 100)\n"
"      --copy-threads N     copy threads, each with a share of the\n"
"                           queues; 0 runs the engine in v4vd's\n"
"                           loop (default: a quarter of the cores, at least\n"
"                           2, at most 16; 0 on one core; at most 64)\n"
"      --vm NAME[=SIZE]     a QEMU/KVM guest as the domain NAME: v4vd is\n"
"                           the ivshmem server of its ivshmem-doorbell\n"
"                           device, on the socket DIR/NAME.sock, with a\n"
"                           region of SIZE bytes (a power of two, 1M to\n"
"                           1G, default 64M); repeat for more VMs\n"
"      --vm-dir DIR         where the VMs' sockets go (default: vm/ beside\n"
"                           the control socket)\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Exit status: 0 after SIGTERM or SIGINT, 1 on a runtime error, 2 on bad\n"
"usage.  See v4vd(8) in docs/cli.md.\n";

enum { OPT_STRICT = 256, OPT_SYSLOG, OPT_POLICY, OPT_ADMIN_GROUP,
       OPT_MAX_RING, OPT_QUOTA, OPT_MAX_RINGS, OPT_MAX_CONNS,
       OPT_MAX_CONNS_UID, OPT_MAX_FDS, OPT_MAX_FDS_UID,
       OPT_COPY_IDLE, OPT_COPY_THREADS, OPT_VM, OPT_VM_DIR };

static const struct option longopts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "strict", no_argument, NULL, OPT_STRICT },
	{ "syslog", no_argument, NULL, OPT_SYSLOG },
	{ "verbose", no_argument, NULL, 'v' },
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "admin-group", required_argument, NULL, OPT_ADMIN_GROUP },
	{ "max-ring-size", required_argument, NULL, OPT_MAX_RING },
	{ "domain-quota", required_argument, NULL, OPT_QUOTA },
	{ "max-rings", required_argument, NULL, OPT_MAX_RINGS },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "max-conns-per-uid", required_argument, NULL, OPT_MAX_CONNS_UID },
	{ "max-fds", required_argument, NULL, OPT_MAX_FDS },
	{ "max-fds-per-uid", required_argument, NULL, OPT_MAX_FDS_UID },
	{ "copy-idle-us", required_argument, NULL, OPT_COPY_IDLE },
	{ "copy-threads", required_argument, NULL, OPT_COPY_THREADS },
	{ "vm", required_argument, NULL, OPT_VM },
	{ "vm-dir", required_argument, NULL, OPT_VM_DIR },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ 0 }
};

static void __attribute__((format(printf, 1, 2), noreturn))
die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "v4vd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'v4vd --help' for more information.\n");
	exit(2);
}

/* A size with an optional K, M or G suffix (powers of 1024). */
static uint64_t parse_size(const char *s, const char *opt)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		die_usage("invalid number '%s'", s);
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	}
	if (*end)
		die_usage("invalid size for %s", opt);
	return v;
}

static uint32_t parse_at_most(const char *s, const char *opt, uint32_t max)
{
	uint64_t v = parse_size(s, opt);

	if (v > max)
		die_usage("%s must be at most %u, not '%s'", opt, max, s);
	return (uint32_t)v;
}

/* --vm NAME[=SIZE] */
static void parse_vm(const char *arg, struct hv_config *cfg)
{
	struct hv_vm_spec *v = &cfg->vms[cfg->nvms];
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);

	if (cfg->nvms == HV_MAX_VMS)
		die_usage("at most %d --vm", HV_MAX_VMS);
	if (!len || len >= sizeof(v->name))
		die_usage("--vm needs a name of 1 to %d characters: '%s'",
			  V4V_NAME_MAX - 1, arg);
	memcpy(v->name, arg, len);
	if (v4vp_name_valid(v->name))
		die_usage("--vm: '%s' is not a valid domain name (letters, "
			  "digits, '-', '_', '.')", v->name);
	for (uint32_t i = 0; i < cfg->nvms; i++)
		if (!strcmp(cfg->vms[i].name, v->name))
			die_usage("--vm %s given twice", v->name);
	v->size = eq ? parse_size(eq + 1, "--vm") : V4V_VM_DEFAULT_REGION;
	if (!v4v_vm_region_ok(v->size))
		die_usage("--vm %s: the region must be a power of two from 1M "
			  "to 1G, not '%s'", v->name, eq + 1);
	cfg->nvms++;
}

static void parse_args(int argc, char **argv, struct hv_config *cfg)
{
	int o;

	argv[0] = (char *)"v4vd"; /* getopt names us in its errors */
	while ((o = getopt_long(argc, argv, "s:fvhV", longopts, NULL)) != -1) {
		switch (o) {
		case 's': cfg->socket_path = optarg; break;
		case 'f': cfg->foreground = true; break;
		case 'v': cfg->verbosity++; break;
		case OPT_STRICT: cfg->strict = true; break;
		case OPT_SYSLOG: cfg->use_syslog = true; break;
		case OPT_POLICY:
			if (!strcasecmp(optarg, "accept"))
				cfg->policy = V4VP_VIPT_ACCEPT;
			else if (!strcasecmp(optarg, "reject"))
				cfg->policy = V4VP_VIPT_REJECT;
			else
				die_usage("--policy takes ACCEPT or REJECT, "
					  "not '%s'", optarg);
			break;
		case OPT_ADMIN_GROUP: {
			struct group *g = getgrnam(optarg);

			if (!g)
				die_usage("no such group '%s'", optarg);
			cfg->admin_gid = g->gr_gid;
			cfg->have_admin_gid = true;
			break;
		}
		case OPT_MAX_RING: {
			uint64_t v = parse_size(optarg, "--max-ring-size");

			if (v > V4V_RING_MAX_SIZE || v < V4V_RING_MIN_SIZE)
				die_usage("--max-ring-size must be between "
					  "256 and 1G, not '%s'", optarg);
			cfg->max_ring_size = (uint32_t)v;
			break;
		}
		case OPT_COPY_IDLE:
			cfg->copy_idle_us = parse_at_most(optarg,
							  "--copy-idle-us",
							  1000000);
			break;
		case OPT_COPY_THREADS:
			cfg->copy_threads = parse_at_most(optarg,
							  "--copy-threads", 64);
			break;
		case OPT_QUOTA:
			cfg->domain_quota = parse_size(optarg, "--domain-quota");
			break;
		case OPT_MAX_RINGS:
		case OPT_MAX_CONNS:
		case OPT_MAX_CONNS_UID:
		case OPT_MAX_FDS:
		case OPT_MAX_FDS_UID: {
			uint64_t v = parse_size(optarg, "a count");

			if (!v || v > UINT32_MAX)
				die_usage("count out of range: '%s'", optarg);
			if (o == OPT_MAX_FDS)
				cfg->max_fds = v;
			else if (o == OPT_MAX_FDS_UID)
				cfg->max_fds_uid = v;
			else if (o == OPT_MAX_RINGS)
				cfg->max_rings = (uint32_t)v;
			else if (o == OPT_MAX_CONNS)
				cfg->max_conns = (uint32_t)v;
			else
				cfg->max_conns_uid = (uint32_t)v;
			break;
		}
		case OPT_VM: parse_vm(optarg, cfg); break;
		case OPT_VM_DIR: cfg->vm_dir = optarg; break;
		case 'h': fputs(usage, stdout); exit(0);
		case 'V': puts("v4vd " V4V_VERSION); exit(0);
		default:
			fprintf(stderr, "Try 'v4vd --help' for more information.\n");
			exit(2);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
}

/* Refuse to steal the socket of a live hypervisor; remove a stale one. */
static int claim_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int rc;

	strcpy(sa.sun_path, path);
	struct stat st;

	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		hv_log(HV_LOG_ERR, "another v4vd is already serving %s", path);
		return -EADDRINUSE;
	}
	/* Only a dead socket is ours to remove; anything else stays. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			hv_log(HV_LOG_ERR, "%s exists and is not a socket; "
			       "remove it or choose another --socket", path);
			return -EEXIST;
		}
		unlink(path);
	}
	return 0;
}

static void make_parent_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755); /* an existing directory is fine */
	}
}

static int open_listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		hv_log(HV_LOG_ERR, "socket path too long: %s", path);
		return -1;
	}
	make_parent_dir(path);
	if (claim_path(path))
		return -1;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, 512)) {
		hv_log(HV_LOG_ERR, "cannot listen on %s: %s", path,
		       strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* Any local user may be a domain; identity comes from credentials. */
	chmod(path, 0666);
	return fd;
}

static int open_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Two descriptors per connection ring (doorbell, memfd): take every
 * descriptor the administrator allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static int hv_init(struct hv *hv)
{
	static enum hv_kind listener = HV_LISTENER, sig = HV_SIGNAL;
	struct epoll_event ev = { .events = EPOLLIN };
	int rc;

	raise_fd_limit();
	rc = hv_guardian_start(hv);
	if (rc)
		hv_log(HV_LOG_WARN, "no guardian (%s): a killed v4vd will not "
		       "reset its domains' sockets", strerror(-rc));
	hv_limits_init(hv);
	hv->start_ms = hv_now_ms();
	hv->next_domid = 1;
	list_init(&hv->conns);
	list_init(&hv->rings);
	hv->vipt = vipt_new(hv->cfg.policy);
	if (!hv->vipt || htab_init(&hv->rings_by_addr, 1024) ||
	    htab_init(&hv->rings_by_handle, 1024) ||
	    htab_init(&hv->rings_by_bell, 1024))
		return -1;
	hv->epfd = epoll_create1(EPOLL_CLOEXEC);
	hv->sig_fd = open_signals();
	hv->listen_fd = open_listener(hv->cfg.socket_path);
	if (hv->epfd < 0 || hv->sig_fd < 0 || hv->listen_fd < 0)
		return -1;
	ev.data.ptr = &listener;
	epoll_ctl(hv->epfd, EPOLL_CTL_ADD, hv->listen_fd, &ev);
	ev.data.ptr = &sig;
	epoll_ctl(hv->epfd, EPOLL_CTL_ADD, hv->sig_fd, &ev);
	hv_peer_init();
	/* After the signal mask (the threads inherit it) and the guardian
	 * (forked with one thread). */
	rc = hv_engine_init(hv);
	if (rc) {
		hv_log(HV_LOG_ERR, "copy engine: %s", strerror(-rc));
		return -1;
	}
	return hv_vm_init(hv);
}

static void handle_event(struct hv *hv, struct epoll_event *e)
{
	enum hv_kind *k = e->data.ptr;

	switch (*k) {
	case HV_LISTENER:
		hv_ctl_accept(hv);
		break;
	case HV_CONN:
		hv_ctl_input(hv, (struct hv_conn *)k);
		break;
	case HV_BELL:
		hv_ring_event(hv, (struct hv_ring *)k, e->events);
		break;
	case HV_SIGNAL:
		hv->stop = true;
		break;
	case HV_SHARD:
		hv_shard_events((struct hv_shard *)k);
		break;
	case HV_VM:
		hv_vm_event(hv, (struct hv_vm_ep *)k, e->events);
		break;
	}
}

/* A ring or connection may be freed by an earlier event of the same batch
 * (a ring dies with its domain's last connection): process one at a time
 * so that no stale pointer is used. */
static void run(struct hv *hv)
{
	int timeout = -1;

	while (!hv->stop) {
		struct epoll_event e;
		int n = epoll_wait(hv->epfd, &e, 1, timeout);

		if (n < 0 && errno != EINTR) {
			hv_log(HV_LOG_ERR, "epoll_wait: %s", strerror(errno));
			return;
		}
		hv_engine_lock(hv);
		if (n == 1)
			handle_event(hv, &e);
		/* The copy engine polls (0) while it has work or may soon. */
		timeout = hv_engine_turn(hv);
		hv_engine_unlock(hv);
		if (timeout > 0) {
			sched_yield(); /* idle, polling: give way */
			timeout = 0;
		}
	}
}

/*
 * Exiting: every connection is reset and every socket hangs up first, so
 * that both sides of a connection, and every listener, learn the same
 * truth at once, even while their owners sleep in poll (a shutdown acts
 * on the socket, whoever else holds it).  Then the rings go, one at a
 * time from the head (a listener takes its queued rings with it).
 */
static void hv_shutdown(struct hv *hv)
{
	struct list *pos, *tmp;

	/* The copy threads first: from here on one thread owns it all. */
	hv_engine_fini(hv);
	hv_vm_fini(hv);
	list_for_each_safe(pos, tmp, &hv->conns)
		hv_ctl_close(hv, container_of(pos, struct hv_conn, link),
			     "hypervisor exiting");
	list_for_each_safe(pos, tmp, &hv->rings) {
		struct hv_ring *r = container_of(pos, struct hv_ring, link);

		if (r->state == HV_RING_LINKED) {
			v4v_ring_set_rx_flag(&r->prod.r, V4V_RING_RX_CLOSED);
			v4v_ring_set_tx_flag(&r->prod.r, V4V_RING_TX_RST |
							 V4V_RING_TX_GONE);
		}
		if (r->bell >= 0)
			shutdown(r->bell, SHUT_RDWR);
	}
	while (hv->rings.next != &hv->rings)
		hv_ring_destroy(hv, container_of(hv->rings.next, struct hv_ring,
						 link),
				"hypervisor exiting");
	close(hv->listen_fd);
	unlink(hv->cfg.socket_path);
	htab_fini(&hv->rings_by_addr);
	htab_fini(&hv->rings_by_handle);
	htab_fini(&hv->rings_by_bell);
	vipt_free(hv->vipt);
	hv_limits_fini(hv);
}

/* Fork into the background; the parent waits for the child's start-up
 * verdict and exits with it.  Returns the child's end of the pipe. */
static int detach(void)
{
	int p[2];
	char verdict = 1;
	pid_t pid;

	if (pipe(p) || (pid = fork()) < 0) {
		fprintf(stderr, "v4vd: cannot detach: %s\n", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &verdict, 1) != 1)
			verdict = 1;
		_exit(verdict);
	}
	close(p[0]);
	setsid();
	return p[1];
}

static void report_ready(int fd, char verdict)
{
	int null;

	if (fd < 0)
		return;
	if (write(fd, &verdict, 1) != 1)
		verdict = 1;
	close(fd);
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	if (chdir("/"))
		hv_log(HV_LOG_WARN, "chdir /: %s", strerror(errno));
}

/* The socket is removed at exit, after a chdir: keep its full path. */
static int absolute_path(struct hv_config *cfg)
{
	static char abs[PATH_MAX];
	char cwd[PATH_MAX];

	if (cfg->socket_path[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)) ||
	    snprintf(abs, sizeof(abs), "%s/%s", cwd, cfg->socket_path) >=
		    (int)sizeof(abs)) {
		fprintf(stderr, "v4vd: cannot make %s absolute\n",
			cfg->socket_path);
		return -1;
	}
	cfg->socket_path = abs;
	return 0;
}

/* The VMs' sockets: --vm-dir, else vm/ beside the control socket. */
static int vm_dir(struct hv_config *cfg)
{
	static char dir[PATH_MAX];
	char cwd[PATH_MAX];
	const char *slash = strrchr(cfg->socket_path, '/');
	int n;

	if (cfg->vm_dir && cfg->vm_dir[0] == '/')
		return 0;
	if (cfg->vm_dir)
		n = getcwd(cwd, sizeof(cwd))
			    ? snprintf(dir, sizeof(dir), "%s/%s", cwd, cfg->vm_dir)
			    : -1;
	else
		n = snprintf(dir, sizeof(dir), "%.*s/vm",
			     (int)(slash - cfg->socket_path), cfg->socket_path);
	if (n < 0 || n >= (int)sizeof(dir)) {
		fprintf(stderr, "v4vd: the VM directory's path is too long\n");
		return -1;
	}
	cfg->vm_dir = dir;
	return 0;
}

int main(int argc, char **argv)
{
	static struct hv hv;
	int ready_fd = -1;
	const char *env = getenv(V4VP_SOCKET_ENV);

	hv.cfg = (struct hv_config){
		.socket_path = env && env[0] ? env : V4VP_DEFAULT_SOCKET,
		.max_ring_size = 16u << 20,
		.domain_quota = 1ull << 30,
		.max_rings = 16384,
		.max_conns = 4096,
		.copy_idle_us = 100,
		.copy_threads = UINT32_MAX, /* from the cores: shards.c */
		.policy = V4VP_VIPT_ACCEPT,
	};
	parse_args(argc, argv, &hv.cfg);
	if (absolute_path(&hv.cfg) || vm_dir(&hv.cfg))
		return 1;
	if (!hv.cfg.foreground)
		hv.cfg.use_syslog = true;
	hv_log_init(&hv.cfg);
	/* Detach before any state exists (a signalfd serves only the
	 * process that made it), but report start-up errors to the caller. */
	if (!hv.cfg.foreground)
		ready_fd = detach();
	if (hv_init(&hv)) {
		report_ready(ready_fd, 1);
		return 1;
	}
	report_ready(ready_fd, 0);
	hv_notify("READY=1");
	hv_log(HV_LOG_INFO, "v4vd %s listening on %s (%s mode, policy %s)",
	       V4V_VERSION, hv.cfg.socket_path,
	       hv.cfg.strict ? "strict" : "direct",
	       hv.cfg.policy == V4VP_VIPT_ACCEPT ? "ACCEPT" : "REJECT");
	run(&hv);
	hv_log(HV_LOG_INFO, "exiting: %u domains, %u rings released",
	       hv.ndomains, hv.nrings);
	hv_shutdown(&hv);
	return 0;
}
