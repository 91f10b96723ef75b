/* SPDX-License-Identifier: MIT */
/*
 * The link layer's host-process backend: a SOCK_SEQPACKET connection to
 * v4vd.  One connection per process, opened on first use; requests are
 * serialized under a lock and each waits for its reply.
 */
#include "link_proto.h"
#include "interposer.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vm/region.h"

_Static_assert(V4V_LINK_HV_STRICT == V4VP_HV_STRICT, "link.h flag");
_Static_assert(V4V_LINK_REG_LISTEN == V4VP_REG_LISTEN, "link.h flag");
_Static_assert(V4V_LINK_REG_TXQ == V4VP_REG_TXQ, "link.h flag");
_Static_assert(V4V_LINK_UNREG_NOW == V4VP_UNREG_NOW, "link.h flag");
_Static_assert(V4V_LINK_SHUT_FIN == V4VP_SHUT_FIN, "link.h flag");
_Static_assert(V4V_LINK_SHUT_RST == V4VP_SHUT_RST, "link.h flag");

struct v4v_ctl {
	int fd;
	uint32_t seq;
};

static struct {
	pthread_mutex_t lock;
	struct v4v_ctl conn;	/* fd -1 until connected */
	int cap;		/* our domain's capability, -1 if none yet */
	struct v4v_link_info info;
	uint32_t gen;		/* domains this process has been so far */
	bool cap_inherited;	/* from V4V_CAP_FD, not our own */
	pthread_once_t once;
} L = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.conn = { .fd = -1 },
	.cap = -1,
	.once = PTHREAD_ONCE_INIT,
};

static void init_once(void);

/* The environment as it was on first use is kept: programs clear theirs
 * (nginx does for its workers), and the children must still find the
 * hypervisor their parent used.  A variable set now still wins. */
static char env_path[108];
static char env_name[V4V_NAME_MAX];

const char *v4v_link_path(void)
{
	const char *p = getenv(V4VP_SOCKET_ENV);

	pthread_once(&L.once, init_once);
	return p && p[0] ? p : env_path;
}

static int dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(fd);
		/* No socket file and a dead socket mean the same thing. */
		return e == ENOENT ? -ECONNREFUSED : -e;
	}
	return fd;
}

/* One request, one reply.  A reply that does not match is a broken
 * hypervisor connection: it is closed so the next call starts afresh. */
static int call(struct v4v_ctl *c, uint16_t op, const void *body, size_t len,
		const struct iovec *payload, int npayload, const int *fds,
		int nfds, void *rep, size_t repmax, size_t *replen,
		int rfd[V4VP_MAX_FDS])
{
	static __thread uint8_t buf[V4VP_MAX_PACKET] __attribute__((aligned(16)));
	struct iovec iov[2 + IOV_MAX];
	struct v4vp_hdr h;
	int rfds[V4VP_MAX_FDS], nr = 0, rc;
	ssize_t n;

	/* Callers close what rfd holds, whatever the outcome. */
	for (int i = 0; rfd && i < V4VP_MAX_FDS; i++)
		rfd[i] = -1;
	if (c->fd < 0)
		return -ENOTCONN;
	if (npayload < 0 || npayload > IOV_MAX)
		return -EINVAL;
	v4vp_hdr_init(&h, op, ++c->seq, 0);
	iov[0] = (struct iovec){ &h, sizeof(h) };
	iov[1] = (struct iovec){ (void *)body, len };
	for (int i = 0; i < npayload; i++)
		iov[2 + i] = payload[i];
	rc = v4vp_sendv(c->fd, iov, 2 + npayload, fds, nfds, 0);
	if (rc)
		goto broken;
	n = v4vp_recv(c->fd, buf, sizeof(buf), rfds, &nr, 0);
	if (n <= 0 || v4vp_check_reply(buf, (size_t)n)) {
		rc = n < 0 ? (int)n : -ECONNRESET;
		goto broken;
	}
	memcpy(&h, buf, sizeof(h));
	if (h.op != op || h.seq != c->seq) {
		rc = -EPROTO;
		goto broken;
	}
	for (int i = 0; i < V4VP_MAX_FDS; i++) {
		if (rfd)
			rfd[i] = i < nr ? rfds[i] : -1;
		else if (i < nr)
			close(rfds[i]);
	}
	if (h.status < 0)
		return h.status;
	n -= (ssize_t)sizeof(h);
	if ((size_t)n > repmax)
		return -EMSGSIZE;
	/* Ops without a reply body may pass rep NULL: memcpy must not see it. */
	if (n)
		memcpy(rep, buf + sizeof(h), (size_t)n);
	if (replen)
		*replen = (size_t)n;
	return 0;
broken:
	for (int i = 0; i < nr; i++)
		close(rfds[i]);
	close(c->fd);
	c->fd = -1;
	return rc;
}

static void on_fork_child(void)
{
	/* The connection belongs to the parent; the capability is ours too
	 * and lets us join the same domain on first use. */
	pthread_mutex_init(&L.lock, NULL);
	if (L.conn.fd >= 0)
		close(L.conn.fd);
	L.conn.fd = -1;
}

static void init_once(void)
{
	const char *cap = getenv("V4V_CAP_FD");
	const char *path = getenv(V4VP_SOCKET_ENV);
	const char *name = getenv("V4V_NAME");

	snprintf(env_path, sizeof(env_path), "%s",
		 path && path[0] ? path : V4VP_DEFAULT_SOCKET);
	snprintf(env_name, sizeof(env_name), "%s", name ? name : "");
	pthread_atfork(NULL, NULL, on_fork_child);
	/* Set by `v4v run` for a program that should join its domain. */
	if (cap && cap[0]) {
		char *end;
		long fd = strtol(cap, &end, 10);

		if (!*end && fd >= 0 && fd < 1 << 20) {
			L.cap = (int)fd;
			L.cap_inherited = true;
		}
	}
}

/* In a VM, the V4V device's registers (v4v_link_kick).  Mapped once and
 * never unmapped: the device stays where it is, and a sender may be
 * writing the register while another thread says HELLO again. */
static volatile uint32_t *kick_regs;

/* HELLO's second descriptor, from a guest agent only: its BAR0. */
static void kick_map(int fd)
{
	struct stat st;
	void *p;

	if (fd < 0)
		return;
	if (!__atomic_load_n(&kick_regs, __ATOMIC_ACQUIRE) && !fstat(fd, &st) &&
	    st.st_size >= (off_t)(V4V_VM_REG_DOORBELL + 4)) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
		if (p != MAP_FAILED)
			__atomic_store_n(&kick_regs, p, __ATOMIC_RELEASE);
	}
	close(fd);
}

bool v4v_link_in_vm(void)
{
	return __atomic_load_n(&kick_regs, __ATOMIC_ACQUIRE) != NULL;
}

bool v4v_link_kick(void)
{
	volatile uint32_t *r = __atomic_load_n(&kick_regs, __ATOMIC_ACQUIRE);

	if (!r)
		return false;
	r[V4V_VM_REG_DOORBELL / 4] = V4V_VM_HOST_PEER << 16 | 0;
	return true;
}

static int hello(void)
{
	struct v4vp_hello req = { .flags = V4VP_HELLO_NEW };
	struct v4vp_hello_reply rep;
	int fd, cap[V4VP_MAX_FDS], rc;

	fd = dial(v4v_link_path());
	if (fd < 0)
		return fd;
	L.conn.fd = fd;
	if (L.cap >= 0)
		req.flags = V4VP_HELLO_JOIN;
	else
		snprintf(req.name, sizeof(req.name), "%s",
			 getenv("V4V_NAME") ? getenv("V4V_NAME") : env_name);
	rc = call(&L.conn, V4VP_HELLO, &req, sizeof(req), NULL, 0, &L.cap,
		  L.cap >= 0, &rep, sizeof(rep), NULL, cap);
	if (rc == -EPERM && req.flags == V4VP_HELLO_JOIN && !L.cap_inherited) {
		/* Our domain died with the hypervisor that knew it (v4vd
		 * restarted): start over as a new domain. */
		close(L.cap);
		L.cap = -1;
		if (L.conn.fd >= 0)
			close(L.conn.fd);
		L.conn.fd = -1;
		return hello();
	}
	if (rc) {
		if (L.conn.fd >= 0)
			close(L.conn.fd);
		L.conn.fd = -1;
		return rc;
	}
	kick_map(cap[1]);
	if (cap[0] >= 0)
		L.cap = cap[0];
	L.info.domid = rep.domid;
	L.info.max_dgram = rep.max_dgram;
	L.info.hv_flags = rep.flags;
	memcpy(L.info.name, rep.name, sizeof(L.info.name));
	L.info.name[V4V_NAME_MAX - 1] = '\0';
	/* A new domain invalidates the old one's handles; joining the same
	 * domain again (a child after fork) keeps them. */
	if (req.flags == V4VP_HELLO_NEW)
		L.gen++;
	return 0;
}

/* Split a tagged handle; a handle of an earlier connection is stale. */
static int untag(v4v_handle_t h, uint32_t *out)
{
	if ((uint32_t)(h >> 32) != L.gen || L.conn.fd < 0)
		return -ECONNRESET;
	*out = (uint32_t)h;
	return 0;
}

/* Did v4vd go away since the last request?  Replies come only to
 * requests, so anything to read now is its end of file. */
static bool link_dead(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* Lock the link, connected.  `fresh`: first replace a connection that
 * v4vd ended (it restarted), so that a request that starts something new
 * (a ring) does not fail for it; the data path (SEND, NOTIFY) does not
 * pay for the look. */
static int link_lock(bool fresh)
{
	int rc = 0;

	pthread_once(&L.once, init_once);
	pthread_mutex_lock(&L.lock);
	if (fresh && L.conn.fd >= 0 && link_dead(L.conn.fd)) {
		close(L.conn.fd);
		L.conn.fd = -1;
	}
	if (L.conn.fd < 0)
		rc = hello();
	if (rc)
		pthread_mutex_unlock(&L.lock);
	return rc;
}

static int link_get(void)
{
	return link_lock(false);
}

static void link_put(void)
{
	pthread_mutex_unlock(&L.lock);
}

int v4v_link_info(struct v4v_link_info *out)
{
	int rc = link_lock(true);

	if (rc)
		return rc;
	*out = L.info;
	link_put();
	return 0;
}

int v4v_link_register_mem(uint32_t port, v4v_domid_t partner, uint32_t size,
			  uint32_t flags, uint32_t accept_size, int memfd,
			  int bell, v4v_handle_t *handle, uint32_t *port_out,
			  struct v4v_link_mem *at)
{
	struct v4vp_register req = { .port = port, .partner = partner,
				     .size = size, .flags = flags,
				     .accept_size = accept_size };
	struct v4vp_register_reply rep;
	int fds[2] = { memfd, bell }, rfd[V4VP_MAX_FDS];
	int rc = link_lock(true);

	if (rc)
		return rc;
	rc = call(&L.conn, V4VP_REGISTER, &req, sizeof(req), NULL, 0, fds, 2,
		  &rep, sizeof(rep), NULL, rfd);
	at->fd = -1;
	at->off = 0;
	if (!rc) {
		*handle = (v4v_handle_t)L.gen << 32 | rep.handle;
		*port_out = rep.port;
		if (rfd[0] >= 0 && rep.offset) {
			at->fd = rfd[0];
			at->off = rep.offset;
			rfd[0] = -1;
		}
	}
	for (int i = 0; i < V4VP_MAX_FDS; i++)
		if (rfd[i] >= 0)
			close(rfd[i]);
	link_put();
	return rc;
}

int v4v_link_register(uint32_t port, v4v_domid_t partner, uint32_t size,
		      uint32_t flags, uint32_t accept_size, int memfd,
		      int bell, v4v_handle_t *handle, uint32_t *port_out)
{
	struct v4v_link_mem at;
	int rc = v4v_link_register_mem(port, partner, size, flags, accept_size,
				       memfd, bell, handle, port_out, &at);

	if (at.fd >= 0)
		close(at.fd); /* a caller that maps its own memory */
	return rc;
}

int v4v_link_unregister(v4v_handle_t handle, uint32_t flags)
{
	struct v4vp_handle req = { .flags = flags };
	int rc = link_get();

	if (rc)
		return rc;
	rc = untag(handle, &req.handle);
	if (!rc)
		rc = call(&L.conn, V4VP_UNREGISTER, &req, sizeof(req), NULL, 0, NULL,
		  0, NULL, 0, NULL, NULL);
	link_put();
	return rc;
}

long v4v_link_sendv(v4v_handle_t handle, const struct v4v_addr *dst,
		    uint32_t message_type, const struct iovec *iov, int iovcnt)
{
	struct v4vp_send_reply rep;

	return v4v_link_send(handle, dst, message_type, iov, iovcnt, &rep);
}

long v4v_link_send(v4v_handle_t handle, const struct v4v_addr *dst,
		   uint32_t message_type, const struct iovec *iov, int iovcnt,
		   struct v4vp_send_reply *rep)
{
	struct v4vp_send req = { .message_type = message_type,
				 .dst = *dst };
	size_t len = 0;
	int rc;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len > V4VP_MAX_DGRAM)
		return -EMSGSIZE;
	req.len = (uint32_t)len;
	req.dst.pad = 0;
	rc = link_get();
	if (rc)
		return rc;
	rc = untag(handle, &req.handle);
	if (!rc)
		rc = call(&L.conn, V4VP_SEND, &req, sizeof(req), iov, iovcnt,
			  NULL, 0, rep, sizeof(*rep), NULL, NULL);
	link_put();
	return rc ? rc : (long)len;
}

void v4v_link_notify(v4v_handle_t handle)
{
	struct v4vp_hdr h;
	struct v4vp_handle req = { 0 };
	struct iovec iov[2] = { { &h, sizeof(h) }, { &req, sizeof(req) } };

	if (link_get())
		return;
	if (untag(handle, &req.handle)) {
		link_put();
		return;
	}
	v4vp_hdr_init(&h, V4VP_NOTIFY, ++L.conn.seq, 0);
	/* No reply comes; a lost notify only delays a sender, which also
	 * retries on its own timeout. */
	(void)v4vp_sendv(L.conn.fd, iov, 2, NULL, 0, 0);
	link_put();
}

_Static_assert(offsetof(struct v4vp_connect, handle) == 0 &&
	       offsetof(struct v4vp_accept, handle) == 0 &&
	       offsetof(struct v4vp_accept, listener) == 4 &&
	       offsetof(struct v4vp_handle, handle) == 0 &&
	       offsetof(struct v4vp_shutdown, handle) == 0,
	       "simple() fills handles at the start of the body");

/* A request without descriptors or reply body beyond a fixed struct. */
static int simple(uint16_t op, void *req, size_t len, void *rep,
		  size_t replen, int fds[2], v4v_handle_t h1, v4v_handle_t h2)
{
	int rfds[V4VP_MAX_FDS] = { -1, -1 };
	uint32_t *ids = req; /* every such body starts with its handle(s) */
	int rc = link_get();

	if (rc)
		return rc;
	rc = untag(h1, &ids[0]);
	if (!rc && h2)
		rc = untag(h2, &ids[1]);
	if (!rc)
		rc = call(&L.conn, op, req, len, NULL, 0, NULL, 0, rep, replen,
			  NULL, fds ? rfds : NULL);
	link_put();
	if (fds) {
		fds[0] = rfds[0];
		fds[1] = rfds[1];
	}
	return rc;
}

int v4v_link_connect(v4v_handle_t handle, uint32_t conid,
		     const struct v4v_addr *dst, int inet_fd,
		     struct v4vp_grant *g, int fds[2])
{
	struct v4vp_connect req = { .conid = conid, .dst = *dst };
	int rfds[V4VP_MAX_FDS], rc = link_get();

	fds[0] = fds[1] = -1;
	if (rc)
		return rc;
	req.dst.pad = 0;
	rc = untag(handle, &req.handle);
	if (!rc)
		rc = call(&L.conn, V4VP_CONNECT, &req, sizeof(req), NULL, 0,
			  &inet_fd, inet_fd >= 0, g, sizeof(*g), NULL, rfds);
	link_put();
	if (!rc) {
		fds[0] = rfds[0];
		fds[1] = rfds[1];
		if (rfds[2] >= 0)
			close(rfds[2]);
	}
	return rc;
}

int v4v_link_accept(uint32_t ring, v4v_handle_t listener,
		    const struct v4v_addr *peer, uint32_t conid, int bell,
		    struct v4vp_accept_reply *rep, v4v_handle_t *handle,
		    int fds[3])
{
	struct v4vp_accept req = { .handle = ring, .peer = *peer,
				   .conid = conid };
	int rc = link_get();

	fds[0] = fds[1] = fds[2] = -1;
	if (rc)
		return rc;
	req.peer.pad = 0;
	rc = untag(listener, &req.listener);
	if (!rc)
		rc = call(&L.conn, V4VP_ACCEPT, &req, sizeof(req), NULL, 0,
			  &bell, 1, rep, sizeof(*rep), NULL, fds);
	/* The ring lives in this connection's instance of v4vd. */
	if (!rc)
		*handle = (v4v_handle_t)L.gen << 32 | ring;
	link_put();
	return rc;
}

int v4v_link_grant(v4v_handle_t handle, struct v4vp_grant *g, int fds[2])
{
	struct v4vp_handle req = { 0 };

	return simple(V4VP_GRANT, &req, sizeof(req), g, sizeof(*g), fds,
		      handle, 0);
}

int v4v_link_shutdown(v4v_handle_t handle, uint32_t how)
{
	struct v4vp_shutdown req = { .how = how };

	return simple(V4VP_SHUTDOWN, &req, sizeof(req), NULL, 0, NULL, handle,
		      0);
}

/* A request that names no ring. */
static int plain(uint16_t op, const void *req, size_t len, void *rep,
		 size_t replen)
{
	int rc = link_get();

	if (rc)
		return rc;
	rc = call(&L.conn, op, req, len, NULL, 0, NULL, 0, rep, replen, NULL,
		  NULL);
	link_put();
	return rc;
}

int v4v_link_lookup(const char *name, v4v_domid_t *out)
{
	struct v4vp_lookup req = { { 0 } };
	struct v4vp_lookup_reply rep;
	int rc;

	if (strlen(name) >= sizeof(req.name))
		return -ENAMETOOLONG;
	strcpy(req.name, name);
	rc = plain(V4VP_LOOKUP, &req, sizeof(req), &rep, sizeof(rep));
	if (!rc)
		*out = rep.domid;
	return rc;
}

int v4v_link_inet(const struct v4vp_inet *req, struct v4vp_inet_reply *rep)
{
	return plain(V4VP_INET, req, sizeof(*req), rep, sizeof(*rep));
}

/* The link's descriptors (the connection to v4vd, our capability), for
 * v4v_sock_own_fds. */
int v4v_link_fds(int *out, int max)
{
	int n = 0;

	pthread_mutex_lock(&L.lock);
	if (L.conn.fd >= 0 && n < max)
		out[n++] = L.conn.fd;
	if (L.cap >= 0 && n < max)
		out[n++] = L.cap;
	pthread_mutex_unlock(&L.lock);
	return n;
}

int v4v_link_cap(void)
{
	int rc = link_get();

	if (rc)
		return rc;
	rc = L.cap;
	link_put();
	return rc;
}

int v4v_ctl_open(const char *path, struct v4v_ctl **out)
{
	struct v4vp_hello req = { .flags = V4VP_HELLO_CONTROL };
	struct v4vp_hello_reply rep;
	struct v4v_ctl *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->fd = dial(path ? path : v4v_link_path());
	if (c->fd < 0) {
		rc = c->fd;
		free(c);
		return rc;
	}
	rc = call(c, V4VP_HELLO, &req, sizeof(req), NULL, 0, NULL, 0, &rep,
		  sizeof(rep), NULL, NULL);
	if (rc) {
		v4v_ctl_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void v4v_ctl_close(struct v4v_ctl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

int v4v_ctl_call(struct v4v_ctl *c, uint16_t op, const void *body, size_t len,
		 void *rep, size_t repmax, size_t *replen)
{
	return call(c, op, body, len, NULL, 0, NULL, 0, rep, repmax, replen,
		    NULL);
}
