/* SPDX-License-Identifier: MIT */
/*
 * Control connections: one per domain process (or per admin tool).  Every
 * packet is validated (v4vp_check_request) before its body is read, every
 * descriptor that arrives is either used or closed, and a client that does
 * not read its replies is dropped rather than allowed to stall us.
 */
#include "hv.h"
#include "viptables.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static uint8_t pkt[V4VP_MAX_PACKET + 1] __attribute__((aligned(16)));
static uint8_t out[V4VP_MAX_PACKET] __attribute__((aligned(16)));

static bool in_admin_group(const struct hv *hv, int fd, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (!hv->cfg.have_admin_gid)
		return false;
	if (gid == hv->cfg.admin_gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == hv->cfg.admin_gid)
			return true;
	return false;
}

/* Said once a second at most: a flood must not flood the log too. */
static void refused(pid_t pid, uid_t uid, const char *why)
{
	static uint64_t last_ms;
	static unsigned skipped;
	uint64_t now = hv_now_ms();

	if (now - last_ms < 1000) {
		skipped++;
		return;
	}
	hv_log(HV_LOG_WARN, "refusing a connection of pid %d uid %u: %s "
	       "(%u more refused since the last message)", (int)pid,
	       (unsigned)uid, why, skipped);
	last_ms = now;
	skipped = 0;
}

void hv_ctl_accept(struct hv *hv)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct hv_conn *c;
	const char *why;
	bool admin;
	int fd;

	fd = accept4(hv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			hv_log(HV_LOG_WARN, "accept: %s", strerror(errno));
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		hv_log(HV_LOG_WARN, "refusing connection: %s", strerror(errno));
		close(fd);
		return;
	}
	admin = cred.uid == 0 || in_admin_group(hv, fd, cred.gid);
	why = hv_conn_limit(hv, cred.uid, admin);
	if (why) {
		refused(cred.pid, cred.uid, why);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->kind = HV_CONN;
	c->fd = fd;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->netns = hv_netns_of(cred.pid);
	c->admin = admin;
	ev.data.ptr = c;
	if (epoll_ctl(hv->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		free(c);
		return;
	}
	list_add_tail(&hv->conns, &c->link);
	hv->nconns++;
	hv_fds_charge(hv, c->uid, 1);
	hv_log(HV_LOG_DEBUG, "connection from pid %d uid %u", (int)c->pid,
	       (unsigned)c->uid);
}

/* A VM's channels hold no descriptor and are limited per VM, so they
 * count against no user's connections or descriptors. */
struct hv_conn *hv_ctl_vm_open(struct hv *hv, struct hv_vm *vm,
			       uint32_t chan)
{
	struct hv_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->kind = HV_CONN;
	c->fd = -1;
	c->vm = vm;
	c->chan = chan;
	c->pid = vm->dom->pid;
	c->netns = vm->dom->netns;
	list_add_tail(&hv->conns, &c->link);
	return c;
}

void hv_ctl_close(struct hv *hv, struct hv_conn *c, const char *why)
{
	struct hv_domain *d = c->dom;

	list_del(&c->link);
	if (c->vm) {
		hv_log(HV_LOG_DEBUG, "vm %s: channel %u closed: %s",
		       c->vm->name, c->chan, why);
		hv_vm_chan_rings_gone(hv, c);
		hv_vm_chan_closed(c);
	} else {
		hv_log(HV_LOG_DEBUG, "connection from pid %d closed: %s",
		       (int)c->pid, why);
		epoll_ctl(hv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		hv->nconns--;
		hv_fds_charge(hv, c->uid, -1);
	}
	free(c);
	if (d) {
		d->nconns--;
		hv_domain_put(hv, d);
	}
}

/* Send a reply; false if the client must be dropped. */
static bool reply_fds(struct hv_conn *c, const struct v4vp_hdr *req,
		      int status, const void *body, size_t len, const int *fds,
		      int nfds)
{
	struct v4vp_hdr h;
	struct iovec iov[2];
	int rc;

	v4vp_hdr_init(&h, req->op, req->seq, status);
	iov[0] = (struct iovec){ &h, sizeof(h) };
	iov[1] = (struct iovec){ (void *)body, status < 0 ? 0 : len };
	if (c->vm) {
		/* Descriptors cannot cross into a guest: the ops a channel
		 * may use give none (vm_ring.c). */
		rc = hv_vm_reply(c, iov, 2);
		if (rc)
			hv_log(HV_LOG_WARN, "vm %s: dropping channel %u: %s",
			       c->vm->name, c->chan, strerror(-rc));
		return rc == 0;
	}
	rc = v4vp_sendv(c->fd, iov, 2, fds, status < 0 ? 0 : nfds,
			MSG_DONTWAIT);
	if (rc)
		hv_log(HV_LOG_WARN, "dropping pid %d: cannot reply: %s",
		       (int)c->pid, strerror(-rc));
	return rc == 0;
}

static bool reply(struct hv_conn *c, const struct v4vp_hdr *req, int status,
		  const void *body, size_t len, int fd)
{
	return reply_fds(c, req, status, body, len, &fd, fd >= 0);
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Every channel of a VM is its domain, whatever it asks to be: the
 * guest's processes are the VM.  Status (CONTROL) is for the host. */
static int vm_hello(struct hv_conn *c, const struct v4vp_hello *req,
		    int nfds)
{
	if (nfds || req->flags == V4VP_HELLO_CONTROL)
		return -EPERM;
	if (req->flags != V4VP_HELLO_NEW && req->flags != V4VP_HELLO_JOIN)
		return -EINVAL;
	c->dom = c->vm->dom;
	c->dom->nconns++;
	return 0;
}

static bool do_hello(struct hv *hv, struct hv_conn *c,
		     const struct v4vp_hdr *h, const void *body, int *fds,
		     int nfds)
{
	struct v4vp_hello req;
	struct v4vp_hello_reply rep = { 0 };
	int rc = 0, give = -1;
	bool ok;

	memcpy(&req, body, sizeof(req));
	if (c->hello_done)
		rc = -EISCONN;
	else if (c->vm)
		rc = vm_hello(c, &req, nfds);
	else if (v4vp_name_check(req.name) ||
		 (req.name[0] && v4vp_name_valid(req.name)))
		rc = -EINVAL;
	else if (req.flags == V4VP_HELLO_NEW && nfds == 0)
		rc = give = hv_domain_new(hv, c, req.name);
	else if (req.flags == V4VP_HELLO_JOIN && nfds == 1)
		rc = hv_domain_join(hv, c, fds[0]);
	else if (req.flags == V4VP_HELLO_CONTROL && nfds == 0)
		rc = 0;
	else
		rc = -EINVAL;
	if (rc >= 0) {
		c->hello_done = true;
		rc = 0;
	}
	if (c->dom) {
		rep.domid = c->dom->domid;
		memcpy(rep.name, c->dom->name, sizeof(rep.name));
	} else {
		rep.domid = V4V_DOMID_INVALID;
	}
	rep.max_dgram = V4VP_MAX_DGRAM;
	rep.flags = hv->cfg.strict ? V4VP_HV_STRICT : 0;
	ok = reply(c, h, rc, &rep, sizeof(rep), give);
	if (give >= 0)
		close(give);
	close_all(fds, nfds);
	return ok;
}

static int do_register(struct hv *hv, struct hv_conn *c, const void *body,
		       int *fds, int nfds, struct v4vp_register_reply *rep)
{
	struct v4vp_register req;
	int rc;

	memcpy(&req, body, sizeof(req));
	if (!c->dom)
		return -ENOTCONN;
	if (c->vm)
		return hv_vm_register(hv, c, &req, rep);
	if (nfds != 2)
		return -EBADF;
	rc = hv_ring_register(hv, c->dom, &req, fds[0], fds[1], rep);
	if (rc == 0)
		fds[1] = -1; /* the ring keeps the doorbell */
	return rc;
}

static int do_notify(struct hv *hv, struct hv_conn *c, const void *body)
{
	struct v4vp_handle req;
	struct hv_ring *r;

	memcpy(&req, body, sizeof(req));
	r = hv_ring_by_handle(hv, req.handle);
	if (!c->dom || !r || r->dom != c->dom)
		return -EBADF;
	hv_ring_wake(hv, r, false);
	return 0;
}

static int do_lookup(struct hv *hv, const void *body,
		     struct v4vp_lookup_reply *rep)
{
	struct v4vp_lookup req;
	struct hv_domain *d;

	memcpy(&req, body, sizeof(req));
	if (v4vp_name_check(req.name) || !req.name[0])
		return -EINVAL;
	d = hv_domain_by_name(hv, req.name);
	if (!d)
		return -ENOENT;
	rep->domid = d->domid;
	return 0;
}

static int do_vm(struct hv *hv, struct hv_conn *c, const void *body,
		 struct v4vp_vm_reply *rep)
{
	struct hv_vm_spec spec;
	struct v4vp_vm req;
	struct hv_vm *vm;
	int rc;

	memcpy(&req, body, sizeof(req));
	req.name[V4V_NAME_MAX - 1] = '\0';
	if (!c->admin) {
		hv_log(HV_LOG_WARN, "pid %d uid %u may not add or remove VMs",
		       (int)c->pid, (unsigned)c->uid);
		return -EPERM;
	}
	if (req.cmd == V4VP_VM_DEL)
		return hv_vm_del(hv, req.name);
	if (req.cmd != V4VP_VM_ADD)
		return -EINVAL;
	memcpy(spec.name, req.name, sizeof(spec.name));
	spec.size = req.size;
	rc = hv_vm_add(hv, &spec, &vm);
	if (rc)
		return rc;
	rep->domid = vm->dom->domid;
	_Static_assert(sizeof(rep->path) == sizeof(vm->path), "QEMU socket");
	memcpy(rep->path, vm->path, sizeof(rep->path));
	return 0;
}

static int do_vipt(struct hv *hv, struct hv_conn *c, uint16_t op,
		   const void *body)
{
	int rc;

	if (!c->admin) {
		hv_log(HV_LOG_WARN,
		       "pid %d uid %u may not change viptables (op %u)",
		       (int)c->pid, (unsigned)c->uid, op);
		return -EPERM;
	}
	if (op == V4VP_VIPT_ADD) {
		struct v4vp_vipt_add a;

		memcpy(&a, body, sizeof(a));
		rc = vipt_insert(hv->vipt, a.pos, &a.rule);
	} else if (op == V4VP_VIPT_DEL) {
		struct v4vp_vipt_del del;

		memcpy(&del, body, sizeof(del));
		rc = vipt_delete(hv->vipt, del.pos);
	} else if (op == V4VP_VIPT_FLUSH) {
		vipt_flush(hv->vipt);
		rc = 0;
	} else {
		struct v4vp_vipt_policy p;

		memcpy(&p, body, sizeof(p));
		rc = vipt_set_policy(hv->vipt, p.action);
	}
	if (!rc) /* what datagram queues were vouched for may be no more */
		hv_dgram_revoke(hv, 0);
	hv_log(rc ? HV_LOG_WARN : HV_LOG_INFO,
	       "viptables op %u by pid %d uid %u: %s (%zu rules, policy %s)",
	       op, (int)c->pid, (unsigned)c->uid, rc ? strerror(-rc) : "done",
	       vipt_count(hv->vipt),
	       vipt_policy(hv->vipt) == V4VP_VIPT_ACCEPT ? "ACCEPT" : "REJECT");
	return rc;
}

/* ACCEPT: the accepting process's doorbell comes with it; the new ring's
 * memfd and the grant of the client's ring go back. */
static bool do_accept(struct hv *hv, struct hv_conn *c,
		      const struct v4vp_hdr *h, const uint8_t *body, int *fds,
		      int nfds)
{
	struct v4vp_accept_reply rep = { 0 };
	struct v4vp_accept req;
	int gfds[3], n = 0, rc;

	memcpy(&req, body, sizeof(req));
	if (c->vm)
		return reply(c, h, hv_vm_accept(hv, c, &req, &rep), &rep,
			     sizeof(rep), -1);
	if (nfds != 1)
		rc = -EBADF;
	else
		rc = hv_accept(hv, c->dom, &req, fds[0], &rep, gfds);
	if (rc)
		close_all(fds, nfds);
	while (!rc && n < 3 && gfds[n] >= 0)
		n++;
	return reply_fds(c, h, rc, &rep, sizeof(rep), gfds, rc ? 0 : n);
}

/* The stream handshake and teardown ops.  CONNECT and GRANT may return
 * the grant's descriptors. */
static bool do_stream(struct hv *hv, struct hv_conn *c,
		      const struct v4vp_hdr *h, const uint8_t *body, int *fds,
		      int nfds)
{
	struct v4vp_grant g = { 0 };
	int gfds[2] = { -1, -1 }, rc;

	if (!c->dom) {
		close_all(fds, nfds);
		rc = -ENOTCONN;
	} else if (h->op == V4VP_ACCEPT) {
		return do_accept(hv, c, h, body, fds, nfds);
	} else if (h->op == V4VP_CONNECT && nfds <= 1) {
		struct v4vp_connect req;

		memcpy(&req, body, sizeof(req));
		rc = hv_connect(hv, c->dom, &req, nfds ? fds[0] : -1, &g,
				gfds);
		if (rc)
			close_all(fds, nfds); /* else the ring keeps it */
	} else if (nfds) {
		close_all(fds, nfds);
		rc = -EBADF;
	} else if (h->op == V4VP_GRANT) {
		struct v4vp_handle req;

		memcpy(&req, body, sizeof(req));
		rc = hv_grant(hv, c->dom, req.handle, &g, gfds);
	} else {
		struct v4vp_shutdown req;

		memcpy(&req, body, sizeof(req));
		rc = hv_shutdown_ring(hv, c->dom, &req);
	}
	if (h->op != V4VP_CONNECT && h->op != V4VP_GRANT)
		return reply(c, h, rc, NULL, 0, -1);
	return reply_fds(c, h, rc, &g, sizeof(g), gfds,
			 gfds[0] < 0 ? 0 : gfds[1] < 0 ? 1 : 2);
}

/* Dispatch one validated request.  Returns false to drop the client. */
static bool dispatch(struct hv *hv, struct hv_conn *c, int *fds, int nfds)
{
	struct v4vp_hdr h;
	const uint8_t *body = pkt + sizeof(h);
	union {
		struct v4vp_register_reply reg;
		struct v4vp_send_reply send;
		struct v4vp_lookup_reply lookup;
		struct v4vp_inet_reply inet;
		struct v4vp_vm_reply vm;
	} rep;
	size_t replen = 0;
	int rc;

	memcpy(&h, pkt, sizeof(h));
	memset(&rep, 0, sizeof(rep));
	if (h.op == V4VP_HELLO)
		return do_hello(hv, c, &h, body, fds, nfds);
	if (h.op == V4VP_NOTIFY) {
		/* Never answered, even when wrong: it is a hint. */
		close_all(fds, nfds);
		if (c->hello_done && !nfds)
			do_notify(hv, c, body);
		return true;
	}
	if (!c->hello_done) {
		rc = -ENOTCONN;
	} else if (h.op == V4VP_REGISTER) {
		rc = do_register(hv, c, body, fds, nfds, &rep.reg);
		replen = sizeof(rep.reg);
	} else if (h.op >= V4VP_CONNECT && h.op <= V4VP_SHUTDOWN && c->vm &&
		   !hv->cfg.strict) {
		rc = -EOPNOTSUPP; /* a VM's rings are never granted */
	} else if (h.op >= V4VP_CONNECT && h.op <= V4VP_SHUTDOWN) {
		return do_stream(hv, c, &h, body, fds, nfds);
	} else if (nfds) {
		rc = -EBADF; /* no other op takes descriptors */
	} else if (h.op == V4VP_SEND) {
		struct v4vp_send s;

		memcpy(&s, body, sizeof(s));
		rc = c->dom ? hv_sendv(hv, c->dom, &s, body + sizeof(s),
				       &rep.send.max)
			    : -ENOTCONN;
		rep.send.len = s.len;
		replen = sizeof(rep.send);
	} else if (h.op == V4VP_UNREGISTER) {
		struct v4vp_handle u;

		memcpy(&u, body, sizeof(u));
		rc = !c->dom  ? -ENOTCONN
		     : c->vm ? hv_vm_unregister(hv, c, u.handle)
			     : hv_ring_unregister(hv, c->dom, u.handle, u.flags);
	} else if (h.op == V4VP_LOOKUP) {
		rc = do_lookup(hv, body, &rep.lookup);
		replen = sizeof(rep.lookup);
	} else if (h.op == V4VP_INET) {
		struct v4vp_inet in;

		memcpy(&in, body, sizeof(in));
		rc = hv_inet(hv, c, &in, &rep.inet);
		replen = sizeof(rep.inet);
	} else if (h.op == V4VP_VM) {
		rc = do_vm(hv, c, body, &rep.vm);
		replen = sizeof(rep.vm);
	} else if (h.op == V4VP_LIST) {
		struct v4vp_list l;
		size_t n = sizeof(out);

		memcpy(&l, body, sizeof(l));
		rc = hv_list(hv, &l, out, &n);
		close_all(fds, nfds);
		return reply(c, &h, rc, out, n, -1);
	} else {
		rc = do_vipt(hv, c, h.op, body);
	}
	close_all(fds, nfds);
	return reply(c, &h, rc, &rep, replen, -1);
}

/* The packet of n bytes in pkt; false if c was closed. */
static bool one_packet(struct hv *hv, struct hv_conn *c, ssize_t n,
		       int *fds, int nfds)
{
	if (n < 0 || v4vp_check_request(pkt, (size_t)n)) {
		struct v4vp_hdr h;

		close_all(fds, nfds);
		if (n < 0 || (size_t)n < sizeof(h)) {
			hv_log(HV_LOG_WARN, "dropping pid %d: unreadable packet",
			       (int)c->pid);
			hv_ctl_close(hv, c, "protocol error");
			return false;
		}
		/* Say what was wrong, then go on. */
		memcpy(&h, pkt, sizeof(h));
		hv_log(HV_LOG_WARN, "malformed packet from pid %d (op %u, %zd bytes)",
		       (int)c->pid, h.op, n);
		if (h.magic != V4VP_MAGIC || h.version != V4VP_VERSION ||
		    !reply(c, &h, -EPROTO, NULL, 0, -1)) {
			hv_ctl_close(hv, c, "protocol error");
			return false;
		}
		return true;
	}
	if (!dispatch(hv, c, fds, nfds)) {
		hv_ctl_close(hv, c, "reply failed");
		return false;
	}
	return true;
}

void *hv_ctl_buf(void)
{
	return pkt;
}

void hv_ctl_packet(struct hv *hv, struct hv_conn *c, size_t n)
{
	one_packet(hv, c, (ssize_t)n, NULL, 0);
}

void hv_ctl_input(struct hv *hv, struct hv_conn *c)
{
	/* Bounded: one busy client cannot starve the others. */
	for (int budget = 64; budget > 0; budget--) {
		int fds[V4VP_MAX_FDS], nfds = 0;
		ssize_t n = v4vp_recv(c->fd, pkt, sizeof(pkt), fds, &nfds,
				      MSG_DONTWAIT);

		if (n == -EAGAIN)
			return;
		if (n == 0) {
			hv_ctl_close(hv, c, "end of connection");
			return;
		}
		if (!one_packet(hv, c, n, fds, nfds))
			return;
	}
}
