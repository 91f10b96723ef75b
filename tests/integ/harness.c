/* SPDX-License-Identifier: MIT */
#include "harness.h"
#include "v4v/link.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool can_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	bool ok;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		return false;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void hv_exec(struct hv_proc *hv, const char *const *extra)
{
	const char *bin = getenv("V4VD");
	const char *argv[32];
	int n = 0;

	if (!bin) {
		fprintf(stderr, "harness: set V4VD to the v4vd binary\n");
		exit(1);
	}
	argv[n++] = bin;
	argv[n++] = "--foreground";
	argv[n++] = "--verbose";
	argv[n++] = "--socket";
	argv[n++] = hv->sock;
	for (; extra && *extra && n < 27; extra++)
		argv[n++] = *extra;
	/* The whole suite runs twice in CI: direct, then strict. */
	if (getenv("V4V_TEST_STRICT") && getenv("V4V_TEST_STRICT")[0] == '1')
		argv[n++] = "--strict";
	/* And strict with copy threads, where that is not the default. */
	if (getenv("V4V_TEST_COPY_THREADS")) {
		argv[n++] = "--copy-threads";
		argv[n++] = getenv("V4V_TEST_COPY_THREADS");
	}
	argv[n] = NULL;
	hv->pid = fork();
	if (hv->pid == 0) {
		FILE *f = freopen(hv->log, "a", stderr);

		(void)f;
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	setenv(V4VP_SOCKET_ENV, hv->sock, 1);
	for (int i = 0; i < 500 && !can_connect(hv->sock); i++)
		usleep(10000);
	if (!can_connect(hv->sock)) {
		fprintf(stderr, "harness: v4vd did not start (log %s)\n",
			hv->log);
		exit(1);
	}
}

void hv_start(struct hv_proc *hv, const char *const *extra)
{
	snprintf(hv->dir, sizeof(hv->dir), "/tmp/v4vtest.XXXXXX");
	if (!mkdtemp(hv->dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(hv->sock, sizeof(hv->sock), "%s/v4vd.sock", hv->dir);
	snprintf(hv->log, sizeof(hv->log), "%s/v4vd.log", hv->dir);
	hv_exec(hv, extra);
}

void hv_restart(struct hv_proc *hv, int sig, const char *const *extra)
{
	int st;

	kill(hv->pid, sig);
	waitpid(hv->pid, &st, 0);
	hv_exec(hv, extra);
}

bool hv_alive(const struct hv_proc *hv)
{
	return waitpid(hv->pid, NULL, WNOHANG) == 0 && can_connect(hv->sock);
}

int hv_stop(struct hv_proc *hv)
{
	int st;

	kill(hv->pid, SIGTERM);
	if (waitpid(hv->pid, &st, 0) != hv->pid)
		return -1;
	if (getenv("V4V_TEST_KEEP_LOG")) {
		fprintf(stderr, "harness: v4vd log kept at %s\n", hv->log);
	} else {
		unlink(hv->log);
		rmdir(hv->dir);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

pid_t dom_spawn(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

int dom_wait(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int hv_fetch(uint32_t what, void **recs, uint32_t *n)
{
	static uint8_t buf[V4VP_MAX_PACKET];
	struct v4vp_list req = { .what = what };
	size_t rec = v4vp_record_size(what);
	struct v4v_ctl *c;
	uint8_t *all = NULL;
	int rc = v4v_ctl_open(NULL, &c);

	*n = 0;
	if (rc)
		return rc;
	do {
		struct v4vp_list_reply rep;
		size_t len;

		rc = v4v_ctl_call(c, V4VP_LIST, &req, sizeof(req), buf,
				  sizeof(buf), &len);
		if (rc)
			break;
		memcpy(&rep, buf, sizeof(rep));
		all = realloc(all, (*n + rep.count) * rec + 1);
		memcpy(all + *n * rec, buf + sizeof(rep), rep.count * rec);
		*n += rep.count;
		req.cursor = rep.next;
	} while (req.cursor);
	v4v_ctl_close(c);
	*recs = all;
	return rc;
}

bool hv_counters(struct v4vp_rec_hv *out)
{
	void *r;
	uint32_t n;

	if (hv_fetch(V4VP_LIST_HV, &r, &n) || n != 1)
		return false;
	memcpy(out, r, sizeof(*out));
	free(r);
	return true;
}

int proc_fds(pid_t pid)
{
	char path[64];
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2;
}

long proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

void gate_init(struct gate *g)
{
	if (pipe(g->fd)) {
		perror("pipe");
		exit(1);
	}
}

void gate_open(struct gate *g, uint32_t value)
{
	if (write(g->fd[1], &value, sizeof(value)) != sizeof(value))
		perror("gate_open");
}

uint32_t gate_wait(struct gate *g)
{
	uint32_t v = 0;

	if (read(g->fd[0], &v, sizeof(v)) != sizeof(v))
		return UINT32_MAX;
	return v;
}

static const struct hv_proc *watched;

/* A hang is a failure: say so, and take v4vd down with us so that no
 * domain process is left waiting on it. */
static void on_alarm(int sig)
{
	static const char msg[] = "watchdog: test took too long\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	if (watched && watched->pid > 0)
		kill(watched->pid, SIGKILL);
	_exit(1);
}

void hv_watchdog(const struct hv_proc *hv, unsigned seconds)
{
	watched = hv;
	signal(SIGALRM, on_alarm);
	alarm(seconds);
}

int dom_across_restart(struct hv_proc *hv, int (*fn)(void *), int sig)
{
	struct restart_gates g;
	pid_t p;

	gate_init(&g.up);
	gate_init(&g.again);
	p = dom_spawn(fn, &g);
	if (gate_wait(&g.up) != 1) {
		int st = dom_wait(p);

		return st ? st : -1;
	}
	hv_restart(hv, sig, NULL);
	gate_open(&g.again, 1);
	return dom_wait(p);
}
