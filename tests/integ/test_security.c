/* SPDX-License-Identifier: MIT */
/*
 * Security properties of a private v4vd, tested from real domains and from
 * processes that speak the control protocol by hand, as an attacker would:
 * sources cannot be forged, a domain acts only on its own rings, only the
 * admin changes viptables, viptables really decide delivery, and the
 * domain capability is the only way to join a domain.
 */
#include "harness.h"
#include "raw.h"
#include "../unit/t.h"
#include "ring/ring.h"
#include "v4v/link.h"
#include "v4v/socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static struct hv_proc hv;

#define SA(a) ((struct sockaddr *)&(a))
#define EXPECT(cond, code) do { if (!(cond)) return (code); } while (0)

static struct sockaddr_v4v addr(v4v_domid_t d, uint32_t port)
{
	struct sockaddr_v4v a = { .v4v_family = AF_V4V, .v4v_domid = d,
				  .v4v_port = port };
	return a;
}

/* ---- the control protocol spoken by hand ---- */


/* A ring registered by hand: sealed memfd, formatted, and the doorbell
 * pair whose application end `app` keeps the ring alive. */
struct raw_ring {
	void *mem;
	uint32_t size;
	int app;
	uint32_t handle;
	uint32_t port;
};

static int raw_ring_new(struct raw *r, struct raw_ring *g, uint32_t port,
			uint32_t size)
{
	struct v4vp_register req = { .port = port, .partner = V4V_DOMID_ANY,
				     .size = size };
	struct v4vp_register_reply rep = { 0 };
	size_t len = v4v_ring_mem_size(size);
	int memfd = memfd_create("raw-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int sv[2], fds[2], rc;

	g->handle = 0;
	g->port = 0;
	if (memfd < 0 || ftruncate(memfd, (off_t)len) ||
	    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		return -errno;
	g->mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (g->mem == MAP_FAILED ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	v4v_ring_format(g->mem, size);
	g->size = size;
	g->app = sv[0];
	fds[0] = memfd;
	fds[1] = sv[1];
	rc = raw_call(r, V4VP_REGISTER, &req, sizeof(req), fds, 2, &rep,
		      sizeof(rep));
	close(memfd);
	close(sv[1]);
	g->handle = rep.handle;
	g->port = rep.port;
	return rc;
}

/* ---- control connections from the test process (root) ---- */

static int ctl(uint16_t op, const void *body, size_t len)
{
	struct v4v_ctl *c;
	int rc = v4v_ctl_open(NULL, &c);

	if (rc)
		return rc;
	rc = v4v_ctl_call(c, op, body, len, NULL, 0, NULL);
	v4v_ctl_close(c);
	return rc;
}

static int vipt_add(uint32_t pos, const struct v4vp_rule *rule)
{
	struct v4vp_vipt_add a = { .pos = pos, .rule = *rule };

	return ctl(V4VP_VIPT_ADD, &a, sizeof(a));
}

static int vipt_del(uint32_t pos)
{
	struct v4vp_vipt_del d = { .pos = pos };

	return ctl(V4VP_VIPT_DEL, &d, sizeof(d));
}

static int vipt_policy_set(uint32_t action)
{
	struct v4vp_vipt_policy p = { .action = action };

	return ctl(V4VP_VIPT_POLICY, &p, sizeof(p));
}

static struct v4vp_match match_any(void)
{
	struct v4vp_match m = { .flags = V4VP_MATCH_ANY_DOM |
					 V4VP_MATCH_ANY_PORT };
	return m;
}

static struct v4vp_match match_dom(v4v_domid_t d)
{
	struct v4vp_match m = { .flags = V4VP_MATCH_ANY_PORT, .domid = d };
	return m;
}

static struct v4vp_match match_name(const char *name)
{
	struct v4vp_match m = { .flags = V4VP_MATCH_ANY_PORT |
					 V4VP_MATCH_BY_NAME };

	snprintf(m.name, sizeof(m.name), "%s", name);
	return m;
}

static struct v4vp_rule rule(struct v4vp_match src, struct v4vp_match dst,
			     uint32_t action)
{
	struct v4vp_rule r = { .src = src, .dst = dst, .action = action };
	return r;
}

/* Rules as LIST shows them (malloc'd), and how many. */
static struct v4vp_rec_rule *rules(uint32_t *n)
{
	void *recs = NULL;

	if (hv_fetch(V4VP_LIST_RULES, &recs, n))
		*n = UINT32_MAX;
	return recs;
}

static uint32_t policy_now(void)
{
	struct v4vp_rec_hv h;

	return hv_counters(&h) ? h.policy : UINT32_MAX;
}

static bool domain_rec(v4v_domid_t d, struct v4vp_rec_domain *out)
{
	struct v4vp_rec_domain *recs;
	uint32_t n;
	bool found = false;

	if (hv_fetch(V4VP_LIST_DOMAINS, (void **)&recs, &n))
		return false;
	for (uint32_t i = 0; i < n; i++) {
		if (recs[i].domid == d) {
			*out = recs[i];
			found = true;
		}
	}
	free(recs);
	return found;
}

/* The ring of domain d at port, from LIST; false if there is none. */
static bool ring_rec(v4v_domid_t d, uint32_t port, struct v4vp_rec_ring *out)
{
	struct v4vp_rec_ring *recs;
	uint32_t n;
	bool found = false;

	if (hv_fetch(V4VP_LIST_RINGS, (void **)&recs, &n))
		return false;
	for (uint32_t i = 0; i < n; i++) {
		if (recs[i].domid == d && recs[i].port == port) {
			*out = recs[i];
			found = true;
		}
	}
	free(recs);
	return found;
}

/* ---- agents: domains that send and receive on the test's command ---- */

enum { A_SEND = 1, A_RECV, A_QUIT };

struct acmd {
	uint32_t op;
	uint32_t domid;
	uint32_t port;
};

struct ares {
	int32_t err;	/* A_SEND: 0 or errno */
	uint32_t count;	/* A_RECV: datagrams drained */
	struct v4v_addr src; /* A_RECV: source of the last one */
};

struct agent {
	const char *name; /* V4V_NAME for the domain, or NULL */
	uint32_t port;
	int cmd[2], res[2];
	pid_t pid;
	v4v_domid_t domid;
};

static void agent_serve(struct agent *a, int fd)
{
	struct acmd c;

	while (read(a->cmd[0], &c, sizeof(c)) == sizeof(c)) {
		struct sockaddr_v4v to = addr((v4v_domid_t)c.domid, c.port);
		struct ares r = { 0 };
		char buf[64];
		struct sockaddr_v4v from;
		socklen_t flen;

		if (c.op == A_QUIT)
			return;
		if (c.op == A_SEND &&
		    v4v_sendto(fd, "ping", 4, MSG_DONTWAIT, SA(to),
			       sizeof(to)) != 4)
			r.err = errno;
		/* A mediated send has landed when its reply came: no wait. */
		while (c.op == A_RECV &&
		       (flen = sizeof(from),
			v4v_recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
				     SA(from), &flen)) >= 0) {
			r.count++;
			r.src.domid = from.v4v_domid;
			r.src.port = from.v4v_port;
		}
		if (write(a->res[1], &r, sizeof(r)) != sizeof(r))
			return;
	}
}

static int agent_main(void *arg)
{
	struct agent *a = arg;
	struct sockaddr_v4v me = addr(V4V_DOMID_ANY, a->port);
	struct ares r = { 0 };
	int fd;

	if (a->name)
		setenv("V4V_NAME", a->name, 1);
	fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	if (fd < 0 || v4v_bind(fd, SA(me), sizeof(me)))
		return 1;
	r.src.domid = (v4v_domid_t)v4v_domid();
	if (write(a->res[1], &r, sizeof(r)) != sizeof(r))
		return 2;
	agent_serve(a, fd);
	return 0;
}

static void agent_start(struct agent *a, const char *name, uint32_t port)
{
	struct ares r;

	a->name = name;
	a->port = port;
	REQUIRE(!pipe(a->cmd) && !pipe(a->res));
	a->pid = dom_spawn(agent_main, a);
	/* Only the agent keeps these ends: if it dies, we see EOF/EPIPE
	 * instead of waiting for it forever. */
	close(a->cmd[0]);
	close(a->res[1]);
	REQUIRE(read(a->res[0], &r, sizeof(r)) == sizeof(r));
	a->domid = r.src.domid;
}

static struct ares agent_do(struct agent *a, uint32_t op, v4v_domid_t d,
			    uint32_t port)
{
	struct acmd c = { .op = op, .domid = d, .port = port };
	struct ares r = { .err = -1 };

	if (write(a->cmd[1], &c, sizeof(c)) != sizeof(c) ||
	    read(a->res[0], &r, sizeof(r)) != sizeof(r))
		r.err = -1;
	return r;
}

/* errno of one datagram from a to b's bound port. */
static int agent_send(struct agent *a, struct agent *b)
{
	return agent_do(a, A_SEND, b->domid, b->port).err;
}

static uint32_t agent_recv(struct agent *a)
{
	return agent_do(a, A_RECV, 0, 0).count;
}

static int agent_stop(struct agent *a)
{
	struct acmd c = { .op = A_QUIT };

	if (write(a->cmd[1], &c, sizeof(c)) != sizeof(c))
		kill(a->pid, SIGKILL);
	close(a->cmd[1]);
	close(a->res[0]);
	return dom_wait(a->pid);
}

/* ---- (a) the source of a message cannot be forged ---- */

struct forge {
	v4v_domid_t rcv;	/* receiver domain, port 100 */
	v4v_domid_t other;	/* another domain with a ring at port 300 */
	uint32_t other_handle;	/* ... and that ring's handle */
	int res[2];		/* forger -> test: domid, port */
	struct gate done;	/* test -> forger: you may exit */
};

static int forger(void *arg)
{
	struct forge *f = arg;
	struct raw r;
	struct raw_ring own;
	struct v4vp_handle h = { .handle = f->other_handle };
	struct pollfd p;
	v4v_domid_t me;
	uint32_t rep[2];

	EXPECT(raw_dial(&r) == 0, 1);
	EXPECT(raw_hello(&r, V4VP_HELLO_NEW, NULL, 0, &me, NULL) == 0, 2);
	EXPECT(me != f->other && me <= V4V_DOMID_MAX, 3);
	/* The same port number as the other domain's ring: no conflict,
	 * because a ring is always registered in the caller's domain. */
	EXPECT(raw_ring_new(&r, &own, 300, 4096) == 0 && own.port == 300, 4);
	/* Sending "from" a ring of another domain. */
	EXPECT(raw_send_msg(&r, f->other_handle, f->rcv, 100, "forged", 6) ==
	       -EBADF, 5);
	EXPECT(raw_send_msg(&r, 0, f->rcv, 100, "forged", 6) == -EBADF, 6);
	EXPECT(raw_send_msg(&r, 0xdeadbeef, f->rcv, 100, "forged", 6) ==
	       -EBADF, 7);
	/* (b) Another domain's ring can be neither closed nor notified. */
	EXPECT(raw_call(&r, V4VP_UNREGISTER, &h, sizeof(h), NULL, 0, NULL,
			0) == -EBADF, 8);
	EXPECT(raw_send(&r, V4VP_NOTIFY, &h, sizeof(h), NULL, 0, NULL, 0) ==
	       0, 9);
	/* NOTIFY has no reply, not even an error. */
	p = (struct pollfd){ .fd = r.fd, .events = POLLIN };
	EXPECT(poll(&p, 1, 100) == 0, 10);
	/* The one real message: stamped with our domid and our port. */
	EXPECT(raw_send_msg(&r, own.handle, f->rcv, 100, "real", 4) == 0, 11);
	rep[0] = me;
	rep[1] = own.port;
	EXPECT(write(f->res[1], rep, sizeof(rep)) == sizeof(rep), 12);
	gate_wait(&f->done);
	return 0;
}

/* (b) bind refuses every domid but our own. */
static int bind_other(void *arg)
{
	v4v_domid_t other = *(v4v_domid_t *)arg;
	struct sockaddr_v4v a = addr(other, 301);
	struct sockaddr_v4v b = addr((v4v_domid_t)(v4v_domid() + 1), 302);
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);

	EXPECT(fd >= 0, 1);
	EXPECT(v4v_bind(fd, SA(a), sizeof(a)) < 0 && errno == EADDRNOTAVAIL,
	       2);
	EXPECT(v4v_bind(fd, SA(b), sizeof(b)) < 0 && errno == EADDRNOTAVAIL,
	       3);
	a = addr((v4v_domid_t)v4v_domid(), 301);
	EXPECT(v4v_bind(fd, SA(a), sizeof(a)) == 0, 4);
	return 0;
}

static void test_forged_source(void)
{
	struct agent rcv, other, third;
	struct forge f;
	struct v4vp_rec_ring ring;
	struct v4vp_rec_domain drec = { 0 };
	struct ares got;
	uint32_t rep[2] = { 0, 0 };
	pid_t pid;

	agent_start(&rcv, NULL, 100);
	agent_start(&other, NULL, 300);
	agent_start(&third, NULL, 500);
	REQUIRE(ring_rec(other.domid, 300, &ring));
	f = (struct forge){ .rcv = rcv.domid, .other = other.domid,
			    .other_handle = ring.handle };
	REQUIRE(!pipe(f.res));
	gate_init(&f.done);
	pid = dom_spawn(forger, &f);
	/* If the forger dies early, the read sees the end of the pipe. */
	close(f.res[1]);
	CHECK(read(f.res[0], rep, sizeof(rep)) == sizeof(rep));
	/* Exactly one datagram arrived, from the forger's real address. */
	got = agent_do(&rcv, A_RECV, 0, 0);
	CHECK_EQ(got.count, 1);
	CHECK_EQ(got.src.domid, rep[0]);
	CHECK_EQ(got.src.port, 300);
	CHECK(rep[0] != 0 && rep[0] != other.domid);
	/* The forger's ring 300 is in its own domain, the other's is intact
	 * and still the one that messages to other:300 reach. */
	CHECK(ring_rec((v4v_domid_t)rep[0], 300, &ring));
	CHECK(ring_rec(other.domid, 300, &ring));
	CHECK(domain_rec(other.domid, &drec) && drec.c.tx_msgs == 0);
	CHECK_EQ(agent_send(&third, &other), 0);
	got = agent_do(&other, A_RECV, 0, 0);
	CHECK_EQ(got.count, 1);
	CHECK_EQ(got.src.domid, third.domid);
	CHECK_EQ(got.src.port, 500);
	/* A normal send from a library socket: the real domid and port. */
	CHECK_EQ(agent_send(&third, &rcv), 0);
	got = agent_do(&rcv, A_RECV, 0, 0);
	CHECK_EQ(got.count, 1);
	CHECK_EQ(got.src.domid, third.domid);
	CHECK_EQ(got.src.port, 500);
	gate_open(&f.done, 1);
	CHECK_EQ(dom_wait(pid), 0);
	CHECK_EQ(dom_wait(dom_spawn(bind_other, &other.domid)), 0);
	CHECK_EQ(agent_stop(&rcv), 0);
	CHECK_EQ(agent_stop(&other), 0);
	CHECK_EQ(agent_stop(&third), 0);
	close(f.res[0]);
}

/* ---- (c) only root and the admin group change viptables and VMs ---- */

struct creds {
	gid_t gid;		/* primary group */
	int ngroups;
	gid_t groups[2];
	int expect;		/* 0 or -EPERM for every change */
};

static int become(const struct creds *c)
{
	if (setgroups((size_t)c->ngroups, c->groups) || setgid(c->gid) ||
	    setuid(65534))
		return -1;
	return getuid() == 65534 && geteuid() == 65534 ? 0 : -1;
}

/* Try every viptables change, and adding and removing a VM, as an
 * unprivileged user; undo the ones that worked, so the table ends as it
 * was (rules then policy). */
static int try_admin(void *arg)
{
	const struct creds *c = arg;
	struct v4vp_vipt_add add = {
		.rule = rule(match_any(), match_any(), V4VP_VIPT_REJECT) };
	struct v4vp_vipt_del del = { .pos = 1 };
	struct v4vp_vipt_policy pol = { .action = V4VP_VIPT_REJECT };
	struct v4vp_list list = { .what = V4VP_LIST_RULES };
	struct v4vp_vm vm = { .cmd = V4VP_VM_ADD, .size = 1 << 20,
			      .name = "secvm" };
	struct v4vp_vm_reply vrep;
	static uint8_t buf[V4VP_MAX_PACKET];
	struct v4v_ctl *h;

	EXPECT(become(c) == 0, 1);
	EXPECT(v4v_ctl_open(NULL, &h) == 0, 2);
	/* Anyone may look. */
	EXPECT(v4v_ctl_call(h, V4VP_LIST, &list, sizeof(list), buf,
			    sizeof(buf), NULL) == 0, 3);
	EXPECT(v4v_ctl_call(h, V4VP_VIPT_ADD, &add, sizeof(add), NULL, 0,
			    NULL) == c->expect, 4);
	EXPECT(v4v_ctl_call(h, V4VP_VIPT_POLICY, &pol, sizeof(pol), NULL, 0,
			    NULL) == c->expect, 5);
	if (c->expect == 0) {
		/* Admin: the change really happened. */
		EXPECT(policy_now() == V4VP_VIPT_REJECT, 6);
		pol.action = V4VP_VIPT_ACCEPT;
		EXPECT(v4v_ctl_call(h, V4VP_VIPT_POLICY, &pol, sizeof(pol),
				    NULL, 0, NULL) == 0, 7);
	}
	/* Deletes the rule just added (admin) or a root's rule (not). */
	EXPECT(v4v_ctl_call(h, V4VP_VIPT_DEL, &del, sizeof(del), NULL, 0,
			    NULL) == c->expect, 8);
	EXPECT(v4v_ctl_call(h, V4VP_VIPT_FLUSH, NULL, 0, NULL, 0, NULL) ==
	       c->expect, 9);
	EXPECT(v4v_ctl_call(h, V4VP_VM, &vm, sizeof(vm), &vrep, sizeof(vrep),
			    NULL) == c->expect, 10);
	vm.cmd = V4VP_VM_DEL;
	EXPECT(v4v_ctl_call(h, V4VP_VM, &vm, sizeof(vm), &vrep, sizeof(vrep),
			    NULL) == c->expect, 11);
	v4v_ctl_close(h);
	return 0;
}

static void test_nonroot(void)
{
	struct creds nobody = { .gid = 65534, .expect = -EPERM };
	struct v4vp_rule mine = rule(match_dom(5), match_any(),
				     V4VP_VIPT_ACCEPT);
	struct v4vp_rec_rule *rs;
	uint32_t n;

	CHECK_EQ(vipt_add(0, &mine), 0);
	CHECK_EQ(dom_wait(dom_spawn(try_admin, &nobody)), 0);
	/* Nothing changed: the one rule, ACCEPT policy. */
	rs = rules(&n);
	CHECK_EQ(n, 1);
	if (n == 1) {
		CHECK_EQ(rs[0].rule.src.domid, 5);
		CHECK_EQ(rs[0].rule.action, V4VP_VIPT_ACCEPT);
	}
	free(rs);
	CHECK_EQ(policy_now(), V4VP_VIPT_ACCEPT);
	CHECK_EQ(ctl(V4VP_VIPT_FLUSH, NULL, 0), 0);
}

/* A group other than root and nobody to make the admin group. */
static const struct group *admin_group(void)
{
	static const char *const names[] = { "audio", "daemon", "adm",
					     "users", "staff", NULL };

	for (const char *const *p = names; *p; p++) {
		const struct group *g = getgrnam(*p);

		if (g && g->gr_gid != 0 && g->gr_gid != 65534)
			return g;
	}
	return NULL;
}

static void test_admin_group(void)
{
	const struct group *g = admin_group();
	struct hv_proc ahv;
	char *saved = strdup(getenv(V4VP_SOCKET_ENV));
	const char *args[] = { "--admin-group", NULL, NULL };
	struct creds member, primary, outsider;
	struct v4vp_rule mine = rule(match_dom(6), match_any(),
				     V4VP_VIPT_ACCEPT);
	uint32_t n;

	REQUIRE(g);
	args[1] = g->gr_name;
	member = (struct creds){ .gid = 65534, .ngroups = 1,
				 .groups = { g->gr_gid }, .expect = 0 };
	primary = (struct creds){ .gid = g->gr_gid, .expect = 0 };
	outsider = (struct creds){ .gid = 65534, .expect = -EPERM };
	hv_start(&ahv, args);
	chmod(ahv.dir, 0755);
	CHECK_EQ(dom_wait(dom_spawn(try_admin, &member)), 0);
	CHECK_EQ(dom_wait(dom_spawn(try_admin, &primary)), 0);
	free(rules(&n));
	CHECK_EQ(n, 0);
	CHECK_EQ(vipt_add(0, &mine), 0);
	CHECK_EQ(dom_wait(dom_spawn(try_admin, &outsider)), 0);
	free(rules(&n));
	CHECK_EQ(n, 1);
	CHECK_EQ(hv_stop(&ahv), 0);
	setenv(V4VP_SOCKET_ENV, saved, 1);
	free(saved);
}

/* ---- (d) viptables decide delivery ---- */

static uint64_t hv_rejects(void)
{
	struct v4vp_rec_hv h;

	return hv_counters(&h) ? h.c.rejects : UINT64_MAX;
}

static uint64_t rule_matches(uint32_t pos)
{
	struct v4vp_rec_rule *rs;
	uint32_t n;
	uint64_t m = UINT64_MAX;

	rs = rules(&n);
	if (n != UINT32_MAX && pos >= 1 && pos <= n)
		m = rs[pos - 1].matches;
	free(rs);
	return m;
}

static void test_reject(void)
{
	struct agent s, r;
	struct v4vp_rec_domain drec = { 0 };
	struct v4vp_rule by_id, by_src_name, by_dst_name, allow;
	uint64_t rej0;

	agent_start(&s, "alice", 200);
	agent_start(&r, "bob", 100);
	by_id = rule(match_dom(s.domid), match_any(), V4VP_VIPT_REJECT);
	by_src_name = rule(match_name("alice"), match_any(), V4VP_VIPT_REJECT);
	by_dst_name = rule(match_any(), match_name("bob"), V4VP_VIPT_REJECT);
	allow = rule(match_dom(s.domid), match_any(), V4VP_VIPT_ACCEPT);

	CHECK_EQ(agent_send(&s, &r), 0);
	CHECK_EQ(agent_recv(&r), 1);
	rej0 = hv_rejects();

	/* By domid: refused, counted three ways, nothing delivered. */
	CHECK_EQ(vipt_add(0, &by_id), 0);
	CHECK_EQ(agent_send(&s, &r), ECONNREFUSED);
	CHECK_EQ(agent_recv(&r), 0);
	CHECK_EQ(hv_rejects(), rej0 + 1);
	CHECK(domain_rec(s.domid, &drec));
	CHECK_EQ(drec.c.rejects, 1);
	CHECK_EQ(rule_matches(1), 1);
	/* Only that source: the other direction still flows. */
	CHECK_EQ(agent_send(&r, &s), 0);
	CHECK_EQ(agent_recv(&s), 1);
	/* First match wins: an ACCEPT in front lets it through. */
	CHECK_EQ(vipt_add(1, &allow), 0);
	CHECK_EQ(agent_send(&s, &r), 0);
	CHECK_EQ(agent_recv(&r), 1);
	CHECK_EQ(vipt_del(1), 0);
	/* Deleting the rule restores delivery. */
	CHECK_EQ(vipt_del(1), 0);
	CHECK_EQ(agent_send(&s, &r), 0);
	CHECK_EQ(agent_recv(&r), 1);

	/* By name, as source and as destination. */
	CHECK_EQ(vipt_add(0, &by_src_name), 0);
	CHECK_EQ(agent_send(&s, &r), ECONNREFUSED);
	CHECK_EQ(agent_recv(&r), 0);
	CHECK_EQ(rule_matches(1), 1);
	CHECK_EQ(agent_send(&r, &s), 0);
	CHECK_EQ(agent_recv(&s), 1);
	CHECK_EQ(ctl(V4VP_VIPT_FLUSH, NULL, 0), 0);
	CHECK_EQ(vipt_add(0, &by_dst_name), 0);
	CHECK_EQ(agent_send(&s, &r), ECONNREFUSED);
	CHECK_EQ(agent_send(&r, &s), 0);
	CHECK_EQ(agent_recv(&s), 1);
	CHECK_EQ(ctl(V4VP_VIPT_FLUSH, NULL, 0), 0);
	CHECK_EQ(agent_send(&s, &r), 0);
	CHECK_EQ(agent_recv(&r), 1);

	/* Default policy REJECT: everything, even a domain to itself. */
	CHECK_EQ(vipt_policy_set(V4VP_VIPT_REJECT), 0);
	CHECK_EQ(policy_now(), V4VP_VIPT_REJECT);
	CHECK_EQ(agent_send(&s, &r), ECONNREFUSED);
	CHECK_EQ(agent_send(&r, &s), ECONNREFUSED);
	CHECK_EQ(agent_send(&s, &s), ECONNREFUSED);
	CHECK_EQ(agent_recv(&r), 0);
	CHECK_EQ(agent_recv(&s), 0);
	CHECK_EQ(hv_rejects(), rej0 + 6);
	CHECK_EQ(vipt_policy_set(V4VP_VIPT_ACCEPT), 0);
	CHECK_EQ(agent_send(&s, &r), 0);
	CHECK_EQ(agent_recv(&r), 1);
	CHECK_EQ(agent_stop(&s), 0);
	CHECK_EQ(agent_stop(&r), 0);
}

/* ---- (e) the capability is the only way into a domain ---- */

static int fork_joins(void *arg)
{
	struct sockaddr_v4v me = addr(V4V_DOMID_ANY, 10), from;
	socklen_t flen = sizeof(from);
	int parent = v4v_domid(), fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	struct v4vp_rec_domain drec = { 0 };
	char buf[8];
	pid_t pid;

	(void)arg;
	EXPECT(parent > 0 && fd >= 0 && !v4v_bind(fd, SA(me), sizeof(me)), 1);
	pid = fork();
	if (pid == 0) {
		struct sockaddr_v4v to = addr((v4v_domid_t)parent, 10);
		struct sockaddr_v4v mine = addr(V4V_DOMID_ANY, 11);
		int c = v4v_socket(AF_V4V, SOCK_DGRAM, 0);

		if (v4v_domid() != parent || c < 0 ||
		    v4v_bind(c, SA(mine), sizeof(mine)) ||
		    v4v_sendto(c, "hi", 2, 0, SA(to), sizeof(to)) != 2)
			_exit(2);
		_exit(domain_rec((v4v_domid_t)parent, &drec) &&
		      drec.nconns == 2 ? 0 : 3);
	}
	EXPECT(dom_wait(pid) == 0, 4);
	/* The child's datagram carries the shared domid, its own port. */
	EXPECT(v4v_recvfrom(fd, buf, sizeof(buf), 0, SA(from), &flen) == 2,
	       5);
	EXPECT(from.v4v_domid == parent && from.v4v_port == 11, 6);
	return 0;
}

static int join_attempts(void *arg)
{
	struct raw a, b, c, d;
	v4v_domid_t da, db, dc, dd;
	int cap, sv[2], pfd[2], two[2];
	struct v4vp_rec_domain drec = { 0 };

	(void)arg;
	EXPECT(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0 && !pipe(pfd), 1);
	/* A live domain whose capability we hold, to be mistaken for. */
	EXPECT(raw_dial(&b) == 0, 2);
	EXPECT(raw_hello(&b, V4VP_HELLO_NEW, NULL, 0, &db, &cap) == 0 &&
	       cap >= 0, 3);
	/* A socket that is not a capability. */
	EXPECT(raw_dial(&a) == 0, 4);
	EXPECT(raw_hello(&a, V4VP_HELLO_JOIN, &sv[0], 1, &da, NULL) == -EPERM,
	       5);
	/* Still nobody: no domain operation works. */
	EXPECT(raw_send_msg(&a, 1, 1, 1, "x", 1) == -ENOTCONN, 6);
	EXPECT(raw_hello(&a, V4VP_HELLO_JOIN, &pfd[0], 1, &da, NULL) == -EBADF,
	       7);
	EXPECT(raw_hello(&a, V4VP_HELLO_JOIN, NULL, 0, &da, NULL) == -EINVAL,
	       8);
	/* The capability joins; with a second descriptor it does not. */
	two[0] = cap;
	two[1] = sv[0];
	EXPECT(raw_hello(&a, V4VP_HELLO_JOIN, two, 2, &da, NULL) == -EINVAL,
	       9);
	EXPECT(raw_hello(&a, V4VP_HELLO_JOIN, &cap, 1, &da, NULL) == 0, 10);
	EXPECT(da == db, 11);
	EXPECT(domain_rec(db, &drec) && drec.nconns == 2, 12);
	/* A capability outlives its domain but no longer opens it, nor
	 * any other live one. */
	EXPECT(raw_dial(&d) == 0, 13);
	EXPECT(raw_hello(&d, V4VP_HELLO_NEW, NULL, 0, &dd, NULL) == 0, 14);
	EXPECT(dd != db, 15);
	close(a.fd);
	close(b.fd);
	for (int i = 0; i < 200 && domain_rec(db, &drec); i++)
		usleep(5000);
	EXPECT(!domain_rec(db, &drec), 16);
	EXPECT(raw_dial(&c) == 0, 17);
	EXPECT(raw_hello(&c, V4VP_HELLO_JOIN, &cap, 1, &dc, NULL) == -EPERM,
	       18);
	EXPECT(raw_hello(&c, V4VP_HELLO_JOIN, &sv[0], 1, &dc, NULL) == -EPERM,
	       19);
	return 0;
}

static void test_capability(void)
{
	CHECK_EQ(dom_wait(dom_spawn(fork_joins, NULL)), 0);
	CHECK_EQ(dom_wait(dom_spawn(join_attempts, NULL)), 0);
}

/* ---- INET: addresses a hostile domain may claim or ask about ---- */

static int inet_call(struct raw *r, uint32_t cmd, uint16_t family,
		     const char *addr, uint16_t port, v4v_domid_t domid,
		     struct v4vp_inet_reply *rep)
{
	struct v4vp_inet req = { .cmd = cmd, .domid = domid,
				 .a = { .family = family, .port = port } };

	if (addr)
		inet_pton(family == AF_INET6 ? AF_INET6 : AF_INET, addr,
			  req.a.addr);
	return raw_call(r, V4VP_INET, &req, sizeof(req), NULL, 0, rep,
			sizeof(*rep));
}

static int inet_hostile(void *arg)
{
	struct v4vp_inet_reply rep;
	struct raw r, ctl;
	v4v_domid_t me;
	char a[32];

	(void)arg;
	EXPECT(raw_dial(&ctl) == 0, 1);
	EXPECT(raw_hello(&ctl, V4VP_HELLO_CONTROL, NULL, 0, &me, NULL) == 0,
	       2);
	EXPECT(inet_call(&ctl, V4VP_INET_DECLARE, AF_INET, "10.9.9.9", 0, 0,
			 &rep) == -ENOTCONN, 3);
	EXPECT(raw_dial(&r) == 0, 4);
	EXPECT(raw_hello(&r, V4VP_HELLO_NEW, NULL, 0, &me, NULL) == 0, 5);
	EXPECT(inet_call(&r, V4VP_INET_DECLARE, AF_INET, "127.0.0.1", 0, 0,
			 &rep) == -EINVAL, 6);
	EXPECT(inet_call(&r, V4VP_INET_DECLARE, AF_INET6, "::1", 0, 0,
			 &rep) == -EINVAL, 7);
	EXPECT(inet_call(&r, V4VP_INET_DECLARE, AF_UNIX, NULL, 0, 0, &rep) ==
		       -EAFNOSUPPORT, 8);
	EXPECT(inet_call(&r, 99, AF_INET, "10.9.9.9", 0, 0, &rep) == -EINVAL,
	       9);
	for (int i = 0; i < 8; i++) {
		snprintf(a, sizeof(a), "10.9.9.%d", i + 1);
		EXPECT(inet_call(&r, V4VP_INET_DECLARE, AF_INET, a, 0, 0,
				 &rep) == 0, 10);
	}
	EXPECT(inet_call(&r, V4VP_INET_DECLARE, AF_INET, "10.9.9.1", 0, 0,
			 &rep) == 0, 11); /* again: no new slot */
	EXPECT(inet_call(&r, V4VP_INET_DECLARE, AF_INET, "10.9.9.99", 0, 0,
			 &rep) == -ENOSPC, 12);
	/* Nobody listens there; no such domain; bad families. */
	EXPECT(inet_call(&r, V4VP_INET_RESOLVE, AF_INET, "10.9.9.1", 80, 0,
			 &rep) == -ENOENT, 13);
	EXPECT(inet_call(&r, V4VP_INET_RESOLVE, AF_INET, "127.0.0.1", 1, 0,
			 &rep) == -ENOENT, 14);
	EXPECT(inet_call(&r, V4VP_INET_RESOLVE, 0, NULL, 1, 0, &rep) ==
		       -EAFNOSUPPORT, 15);
	EXPECT(inet_call(&r, V4VP_INET_PEER, AF_INET, NULL, 0,
			 V4V_DOMID_MAX, &rep) == -ENOENT, 16);
	EXPECT(inet_call(&r, V4VP_INET_PEER, AF_INET, NULL, 0, me, &rep) == 0 &&
	       rep.a.family == AF_INET && rep.a.addr[0] == 127, 17);
	/* A domain of this namespace may share an address we declared;
	 * the hypervisor still answers everyone. */
	EXPECT(raw_dial(&ctl) == 0, 18);
	EXPECT(raw_hello(&ctl, V4VP_HELLO_NEW, NULL, 0, &me, NULL) == 0, 19);
	EXPECT(inet_call(&ctl, V4VP_INET_DECLARE, AF_INET, "10.9.9.1", 0, 0,
			 &rep) == 0, 20);
	return 0;
}

/* A domain of another network namespace cannot take a declared address. */
static int inet_other_ns(void *arg)
{
	struct v4vp_inet_reply rep;
	struct raw r;
	v4v_domid_t me;

	(void)arg;
	EXPECT(unshare(CLONE_NEWNET) == 0, 1);
	EXPECT(raw_dial(&r) == 0, 2);
	EXPECT(raw_hello(&r, V4VP_HELLO_NEW, NULL, 0, &me, NULL) == 0, 3);
	EXPECT(inet_call(&r, V4VP_INET_DECLARE, AF_INET, "10.9.8.1", 0, 0,
			 &rep) == -EADDRINUSE, 4);
	EXPECT(inet_call(&r, V4VP_INET_DECLARE, AF_INET, "10.9.8.2", 0, 0,
			 &rep) == 0, 5);
	return 0;
}

static int inet_holder(void *arg)
{
	struct gate *g = arg;
	struct v4vp_inet_reply rep;
	struct raw r;
	v4v_domid_t me;

	EXPECT(raw_dial(&r) == 0, 1);
	EXPECT(raw_hello(&r, V4VP_HELLO_NEW, NULL, 0, &me, NULL) == 0, 2);
	EXPECT(inet_call(&r, V4VP_INET_DECLARE, AF_INET, "10.9.8.1", 0, 0,
			 &rep) == 0, 3);
	gate_open(&g[0], 1);
	gate_wait(&g[1]); /* hold the domain until the other is done */
	return 0;
}

static void test_inet(void)
{
	struct gate g[2];
	pid_t holder;

	gate_init(&g[0]);
	gate_init(&g[1]);
	CHECK_EQ(dom_wait(dom_spawn(inet_hostile, NULL)), 0);
	holder = dom_spawn(inet_holder, g);
	CHECK_EQ(gate_wait(&g[0]), 1);
	CHECK_EQ(dom_wait(dom_spawn(inet_other_ns, NULL)), 0);
	gate_open(&g[1], 1);
	CHECK_EQ(dom_wait(holder), 0);
	CHECK(hv_alive(&hv));
}

/* ---- (g) no user locks the others out of v4vd ---- */

#define LOCK_CONNS 64	/* --max-conns: 16 a user, the last 4 for root */

struct hog {
	struct gate held, done;
	uid_t uid;
};

/* As `uid`: open control connections until v4vd refuses them and keep
 * those it kept; tell how many, and hold them until told to go. */
static int hog(void *arg)
{
	struct hog *h = arg;
	struct raw r[LOCK_CONNS];
	uint32_t kept = 0;

	if (setgroups(0, NULL) || setgid(65534) || setuid(h->uid))
		return 1;
	for (int i = 0; i < LOCK_CONNS; i++)
		if (raw_dial(&r[i]))
			r[i].fd = -1;
	usleep(200000); /* v4vd closes the refused ones at once */
	for (int i = 0; i < LOCK_CONNS; i++) {
		struct pollfd p = { .fd = r[i].fd, .events = POLLIN };

		if (r[i].fd >= 0 && poll(&p, 1, 0) == 0)
			kept++;
	}
	gate_open(&h->held, kept);
	gate_wait(&h->done);
	return 0;
}

/* Can `uid` (or root, 0) still become a domain? */
static int try_domain(void *arg)
{
	uid_t uid = (uid_t)(uintptr_t)arg;
	struct v4v_link_info info;

	if (uid && (setgroups(0, NULL) || setgid(65534) || setuid(uid)))
		return 1;
	return v4v_link_info(&info) == 0 ? 0 : 2;
}

static void test_lockout(void)
{
	char *saved = strdup(getenv(V4VP_SOCKET_ENV));
	const char *args[] = { "--max-conns", "64", NULL };
	struct hog a = { .uid = 65534 }, b = { .uid = 65533 };
	struct v4vp_rec_hv h;
	struct hv_proc lhv;
	pid_t pa, pb;

	hv_start(&lhv, args);
	chmod(lhv.dir, 0755);
	gate_init(&a.held);
	gate_init(&a.done);
	gate_init(&b.held);
	gate_init(&b.done);
	pa = dom_spawn(hog, &a);
	/* One user gets a quarter, however hard it tries. */
	CHECK_EQ(gate_wait(&a.held), LOCK_CONNS / 4);
	/* Another user and root still come in. */
	CHECK_EQ(dom_wait(dom_spawn(try_domain, (void *)(uintptr_t)65533)),
		 0);
	CHECK_EQ(dom_wait(dom_spawn(try_domain, (void *)(uintptr_t)0)), 0);
	pb = dom_spawn(hog, &b);
	CHECK_EQ(gate_wait(&b.held), LOCK_CONNS / 4);
	/* Root looks, with two users holding half of all connections. */
	CHECK(hv_counters(&h) && h.ndomains == 0);
	gate_open(&a.done, 1);
	gate_open(&b.done, 1);
	CHECK_EQ(dom_wait(pa), 0);
	CHECK_EQ(dom_wait(pb), 0);
	CHECK_EQ(hv_stop(&lhv), 0);
	setenv(V4VP_SOCKET_ENV, saved, 1);
	free(saved);
}

/* As nobody: bind datagram sockets (one ring, one descriptor in v4vd,
 * each) until v4vd says no; tell the error, check the domain still works,
 * hold them until told to go. */
static int fd_hog(void *arg)
{
	struct hog *h = arg;
	struct v4v_link_info info;
	int err = 0;

	if (setgroups(0, NULL) || setgid(65534) || setuid(h->uid))
		return 1;
	for (int i = 0; i < 4096 && !err; i++) {
		struct sockaddr_v4v a = { .v4v_family = AF_V4V,
					  .v4v_domid = V4V_DOMID_ANY };
		int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);

		if (fd < 0 || v4v_bind(fd, (struct sockaddr *)&a, sizeof(a)))
			err = errno;
	}
	gate_open(&h->held, (uint32_t)err);
	if (v4v_link_info(&info))
		return 2; /* refused, but not dropped */
	gate_wait(&h->done);
	return 0;
}

/* Can `uid` (or root, 0) still make a ring? */
static int try_ring(void *arg)
{
	struct sockaddr_v4v a = { .v4v_family = AF_V4V,
				  .v4v_domid = V4V_DOMID_ANY };
	uid_t uid = (uid_t)(uintptr_t)arg;
	int fd;

	if (uid && (setgroups(0, NULL) || setgid(65534) || setuid(uid)))
		return 2;
	fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	return fd >= 0 && !v4v_bind(fd, (struct sockaddr *)&a, sizeof(a)) ? 0
									   : 1;
}

/* v4vd with few descriptors to give (--max-fds): a user who takes all it
 * may (a quarter, --max-fds-per-uid) gets EMFILE and keeps its domain;
 * another user and root still make rings, and root looks. */
static void test_fd_flood(void)
{
	char *saved = strdup(getenv(V4VP_SOCKET_ENV));
	const char *args[] = { "--max-fds", "256", NULL };
	struct hog a = { .uid = 65534 };
	struct v4vp_rec_hv h;
	struct hv_proc fhv;
	pid_t pa;

	hv_start(&fhv, args);
	chmod(fhv.dir, 0755);
	gate_init(&a.held);
	gate_init(&a.done);
	pa = dom_spawn(fd_hog, &a);
	CHECK_EQ(gate_wait(&a.held), EMFILE);
	CHECK_EQ(dom_wait(dom_spawn(try_ring, (void *)(uintptr_t)4242)), 0);
	CHECK_EQ(dom_wait(dom_spawn(try_ring, NULL)), 0);
	CHECK(hv_counters(&h) && h.ndomains == 1);
	gate_open(&a.done, 1);
	CHECK_EQ(dom_wait(pa), 0);
	/* Everything it held is given back (once v4vd has seen it go). */
	{
		int rc = 1;

		for (int i = 0; i < 50 && rc; i++) {
			usleep(20000);
			rc = dom_wait(dom_spawn(try_ring,
						(void *)(uintptr_t)65534));
		}
		CHECK_EQ(rc, 0);
	}
	CHECK(hv_alive(&fhv));
	CHECK_EQ(hv_stop(&fhv), 0);
	setenv(V4VP_SOCKET_ENV, saved, 1);
	free(saved);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "forged_source", test_forged_source },
		{ "nonroot", test_nonroot },
		{ "admin_group", test_admin_group },
		{ "reject", test_reject },
		{ "capability", test_capability },
		{ "inet", test_inet },
		{ "lockout", test_lockout },
		{ "fd_flood", test_fd_flood },
		{ 0 }
	};
	int rc;

	if (geteuid() != 0) {
		printf("skip: needs root to change users and viptables\n");
		return T_SKIP;
	}
	signal(SIGPIPE, SIG_IGN);
	hv_watchdog(&hv, 120);
	hv_start(&hv, NULL);
	/* Unprivileged users must reach the socket to be refused. */
	chmod(hv.dir, 0755);
	rc = t_run(cases, argc, argv);
	CHECK(hv_alive(&hv));
	CHECK_EQ(hv_stop(&hv), 0);
	return rc || t_failed;
}
