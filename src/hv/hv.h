/* SPDX-License-Identifier: MIT */
/*
 * v4vd internals: the state the hypervisor keeps about domains, their
 * control connections and their rings.  One epoll loop owns everything;
 * the only other threads are strict mode's copy threads (shards.c), each
 * of which touches only the connections of its shard, under its shard's
 * lock, which the loop takes (all of them) around each event.
 */
#ifndef V4V_HV_H
#define V4V_HV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/proto.h"
#include "ring/ring.h"
#include "htab.h"
#include "list.h"

struct vipt_table;
struct hv_vm;

/* A VM declared with --vm NAME[=SIZE]. */
struct hv_vm_spec {
	char name[V4V_NAME_MAX];
	uint64_t size;		/* its region, a power of two */
};
#define HV_MAX_VMS 64

struct hv_config {
	const char *socket_path;
	bool strict;
	bool foreground;
	bool use_syslog;
	int verbosity;		/* 0 info, 1 debug */
	uint32_t max_ring_size;	/* data bytes per ring */
	uint64_t domain_quota;	/* ring bytes per domain */
	uint32_t max_rings;	/* rings per domain */
	uint32_t max_conns;	/* control connections in all */
	uint32_t max_conns_uid;	/* of one non-admin user; 0: max_conns / 4 */
	uint64_t max_fds;	/* held for domains; 0: from RLIMIT_NOFILE */
	uint64_t max_fds_uid;	/* of one non-admin user; 0: a quarter */
	uint32_t copy_idle_us;	/* engine.c: polling after the last work */
	uint32_t copy_threads;	/* shards.c: 0, the engine runs in the loop */
	uint32_t policy;	/* viptables default */
	bool have_admin_gid;
	gid_t admin_gid;
	const char *vm_dir;	/* the VMs' QEMU sockets */
	struct hv_vm_spec vms[HV_MAX_VMS];
	uint32_t nvms;
};

/* Every object registered with epoll starts with its kind. */
enum hv_kind { HV_LISTENER, HV_CONN, HV_BELL, HV_SIGNAL, HV_SHARD, HV_VM };

struct hv_domain {
	v4v_domid_t domid;
	char name[V4V_NAME_MAX];
	pid_t pid;
	uid_t uid;
	int cap_fd;		/* our reference keeps the inode unique */
	ino_t cap_ino;
	uint32_t nconns;
	uint32_t nrings;
	uint64_t ring_bytes;
	bool admin;		/* created by root or the admin group */
	uint32_t next_port;
	struct v4vp_counters c;
	ino_t netns;		/* of the process that created it */
	struct v4vp_inet_addr addrs[V4VP_INET_MAX_ADDRS]; /* declared */
	uint32_t naddrs;
	struct hv_vm *vm;	/* a VM's domain (vm.c), else NULL */
};

struct hv_conn {
	enum hv_kind kind;
	int fd;
	struct hv_domain *dom;	/* NULL until HELLO, and for CONTROL */
	bool hello_done;
	bool admin;
	pid_t pid;
	uid_t uid;
	ino_t netns;		/* the peer process's network namespace */
	struct hv_vm *vm;	/* a channel of this VM's link: no socket */
	uint32_t chan;
	struct list link;
};

/* Descriptors v4vd holds for one user's domains and connections. */
struct hv_uid_fds {
	uid_t uid;
	uint64_t n;
};

/* A sender queued for space in a full ring, named by its own ring. */
struct hv_waiter {
	uint32_t handle;
	uint32_t need;
};

/* A ring registered for one partner may carry a stream connection. */
enum hv_conn_state { HV_RING_PLAIN, HV_RING_LINKED };

struct hv_ring {
	enum hv_kind kind;
	uint32_t handle;
	struct hv_domain *dom;
	uint32_t port;
	v4v_domid_t partner;
	uint32_t size;
	void *mem;
	size_t memlen;
	int bell;		/* hypervisor's end of the socket's doorbell */
	int memfd;		/* kept to grant the partner; -1 for ANY rings */
	int inet_fd;		/* a client's TCP socket, holding its port */
	ino_t bell_ino;		/* the doorbell socket's inode */
	enum hv_conn_state state;
	uint32_t conid;		/* queued: as in the SYN */
	uint32_t listener;	/* queued: the listener ring's handle */
	struct hv_ring *peer;	/* LINKED: the other direction */
	bool queued;		/* made by CONNECT, not accepted yet: no
				 * doorbell, not armed (bell is -1) */
	uint32_t accept_size;	/* a listener's: size of the rings it
				 * gets for queued connections */
	bool granted;		/* the peer produces into this ring itself */
	bool listening;		/* a stream listener: takes SYNs */
	bool pumping;		/* strict stream: the engine moves its owner's
				 * writes, from txq (on shard->active) */
	struct hv_shard *shard;	/* pumping: whose; the peer's is the same */
	bool stalled;		/* the engine waits for room in the peer's
				 * ring */
	bool bell_hot;		/* its doorbell was seen readable since the
				 * engine last drained it */
	bool eof;		/* the engine met the end of the owner's
				 * writes (or reset the connection) */
	bool dying;		/* closed; waits to deliver its last data */
	bool guarded_bell;	/* the guardian has the doorbell */
	bool guarded_mem;	/* the guardian has the header */
	struct v4v_ring_prod prod;
	/* Strict connection rings: the owner's transmit queue, the second
	 * ring of the memfd (V4VP_REG_TXQ), which the engine consumes;
	 * txq_off: bytes of its current message already copied. */
	bool has_txq;
	bool in_region;		/* a VM's: in its region (vm_ring.c) */
	struct v4v_ring_cons txq;
	uint32_t txq_off;
	/* A datagram socket's ring with a transmit queue (dgram_q.c):
	 * dq_last, the ring its last datagram went to; dq_stall, the ring
	 * whose room it waits for while stalled; send_waits, a SEND of its
	 * owner waits for the queue to move or a receiver's room. */
	bool dgram_q;
	bool send_waits;
	uint32_t dq_last;
	uint32_t dq_stall;
	struct list active;
	struct hv_waiter *waiters;
	uint32_t nwaiters, capwaiters;
	struct v4vp_counters c;
	struct hnode by_addr;
	struct hnode by_handle;
	struct hnode by_bell;	/* by bell_ino, while bell >= 0 */
	uint64_t seen_bytes;	/* hv_ring_stream_bytes: the last count */
	uint64_t seen_ms;
	struct list link;	/* all rings, in handle order */
};

/*
 * shards.c: the copy engine is one or more shards, each a set
 * of connections (both directions of one connection in the same shard)
 * with the epoll set of their queues' doorbells.  With --copy-threads 0
 * the one shard runs in v4vd's loop; else each shard has a thread.
 */
/* The most one connection moves in one turn of the copy engine: fairness
 * between the connections that share a shard.  A turn costs about as
 * many microseconds as it moves ten-kilobyte units, and every other
 * connection's message may wait behind one. */
#define HV_TURN_BYTES (64u * 1024u)

/* Aligned: each copy thread writes its shard's counters per message, and
 * shards sit side by side in one array. */
struct __attribute__((aligned(64))) hv_shard {
	enum hv_kind kind;	/* HV_SHARD: epfd is in the loop's set */
	struct hv *hv;
	uint32_t id;
	pthread_mutex_t lock;
	pthread_t thread;
	bool threaded;
	bool stop;		/* the thread's end: v4vd is exiting */
	int epfd;		/* queues' doorbells, by ring handle */
	int wake;		/* eventfd: the loop gave the thread work */
	struct list active;	/* pumping rings */
	bool awake;		/* polling; else every queue is armed */
	uint64_t last_work_ns;
	uint64_t busy_ns;	/* time spent in turns that moved data */
	uint64_t wakeups;	/* from sleep, by a doorbell or a request */
	uint64_t msgs, bytes;
	uint64_t bells;		/* receivers' doorbells rung */
	uint64_t resets;	/* connections reset for a corrupt queue */
	uint32_t queues;	/* on active */
};

struct hv_engine {
	struct hv_shard *shards;
	uint32_t n;
	/* The loop wants every shard's lock (hv_engine_lock): a polling
	 * thread lets go of its own until the loop is done. */
	bool loop_waits;
	/* Datagram deliveries of copy threads: several shards may produce
	 * into one receiver's ring (dgram_q.c). */
	pthread_mutex_t dgram_lock;
};

struct hv {
	struct hv_config cfg;
	struct hv_engine engine;
	int epfd;
	int listen_fd;
	int sig_fd;
	int guardian;		/* guardian.c: -1 when unguarded */
	bool stop;
	uint64_t start_ms;
	uint32_t nconns;
	uint32_t ndomains;
	uint64_t nfds;		/* held for domains: see limits.c */
	uint64_t fd_budget;
	uint64_t fd_budget_uid;	/* of one user who is not an administrator */
	struct hv_uid_fds *uid_fds; /* per user holding any: limits.c */
	uint32_t nuid_fds, uid_fds_cap;
	uint32_t nrings;
	uint32_t next_handle;
	v4v_domid_t next_domid;
	struct hv_domain *domains[V4V_DOMID_MAX + 1];
	struct list conns;
	struct list rings;
	struct list vms;
	struct htab rings_by_addr;
	struct htab rings_by_handle;
	struct htab rings_by_bell;
	struct vipt_table *vipt;
	struct v4vp_counters c;
};

/* guardian.c: a child that resets every socket if v4vd is killed.
 * Report each ring when it gets a doorbell or memory or is linked, and
 * forget it when it goes. */
int hv_guardian_start(struct hv *hv);
void hv_guardian_watch(struct hv *hv, struct hv_ring *r);
void hv_guardian_forget(struct hv *hv, struct hv_ring *r);

/* log.c */
enum { HV_LOG_ERR, HV_LOG_WARN, HV_LOG_INFO, HV_LOG_DEBUG };
void hv_log_init(const struct hv_config *cfg);
void hv_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* domain.c */
int hv_domain_new(struct hv *hv, struct hv_conn *c, const char *name);
int hv_domain_join(struct hv *hv, struct hv_conn *c, int cap);
struct hv_domain *hv_domain_by_id(struct hv *hv, v4v_domid_t domid);
struct hv_domain *hv_domain_by_name(struct hv *hv, const char *name);
/* Drop a reference (a connection or a ring); frees the domain at zero. */
void hv_domain_put(struct hv *hv, struct hv_domain *d);

/* rings.c */
int hv_ring_register(struct hv *hv, struct hv_domain *d,
		     const struct v4vp_register *req, int memfd, int bell,
		     struct v4vp_register_reply *out);
/* The same for a VM's domain: the ring at `off` of its region (memfd),
 * formatted here, never granted. */
int hv_ring_register_vm(struct hv *hv, struct hv_domain *d,
			const struct v4vp_register *req, int memfd,
			uint64_t off, int bell,
			struct v4vp_register_reply *out);
void hv_ring_destroy(struct hv *hv, struct hv_ring *r, const char *why);
/* A receive ring of our own making for domain d, for one partner: the
 * ring of a connection queued on a listener (no doorbell yet). */
int hv_ring_make(struct hv *hv, struct hv_domain *d, v4v_domid_t partner,
		 uint32_t size, struct hv_ring **out);
/* The accepting process's doorbell for a ring made by hv_ring_make. */
int hv_ring_adopt_bell(struct hv *hv, struct hv_ring *r, int bell);
/* Stream payload bytes a linked ring has received so far. */
uint64_t hv_ring_stream_bytes(struct hv_ring *r);
int hv_ring_unregister(struct hv *hv, struct hv_domain *d, uint32_t handle,
		       uint32_t flags);
struct hv_ring *hv_ring_by_handle(struct hv *hv, uint32_t handle);
/* The ring a message from `src` to `dst` goes to, or NULL. */
struct hv_ring *hv_ring_route(struct hv *hv, const struct v4v_addr *dst,
			      v4v_domid_t src);
void hv_ring_add_waiter(struct hv_ring *r, uint32_t handle, uint32_t need);
void hv_ring_del_waiter(struct hv_ring *r, uint32_t handle);
/* Wake queued senders that fit now (all of them if `all`). */
void hv_ring_wake(struct hv *hv, struct hv_ring *r, bool all);
void hv_bell_ring(int bell);
void hv_bell_drain(int bell);
/* The room ring r's waiting sender waits for came: empty its fill (and
 * tell its guest, for a VM's ring).  Any thread. */
void hv_ring_room(struct hv_ring *r);

/* limits.c */
void hv_limits_init(struct hv *hv);
/* May v4vd hold `n` more descriptors for a domain (or a connection) of
 * user `uid`, an administrator or not?  Else the caller's error is
 * EMFILE.  hv_fds_charge then counts `n` (negative: gives back). */
bool hv_fds_left(struct hv *hv, bool admin, uid_t uid, uint32_t n);
void hv_fds_charge(struct hv *hv, uid_t uid, int n);
void hv_limits_fini(struct hv *hv);
/* Why a process of `uid` may not have one more control connection, or
 * NULL if it may. */
const char *hv_conn_limit(struct hv *hv, uid_t uid, bool admin);

/* notify.c: systemd's readiness protocol, if $NOTIFY_SOCKET is set. */
void hv_notify(const char *state);

/* peer.c */
void hv_peer_init(void);
int hv_unix_peer(int fd, ino_t *peer);

/* conn.c: stream connections */
int hv_connect(struct hv *hv, struct hv_domain *d,
	       const struct v4vp_connect *req, int inet_fd,
	       struct v4vp_grant *out, int fds[2]);
int hv_accept(struct hv *hv, struct hv_domain *d,
	      const struct v4vp_accept *req, int bell,
	      struct v4vp_accept_reply *out, int fds[3]);
int hv_grant(struct hv *hv, struct hv_domain *d, uint32_t handle,
	     struct v4vp_grant *out, int fds[2]);
int hv_shutdown_ring(struct hv *hv, struct hv_domain *d,
		     const struct v4vp_shutdown *req);
/* A ring is going away: tell its peer or its pending clients. */
void hv_conn_ring_gone(struct hv *hv, struct hv_ring *r);

/* engine.c: strict-mode stream data, with the ring's shard locked (by
 * its thread, or by the loop around each event).  start: r's owner
 * writes into its queue from now on; forget: r goes; pump: data or room
 * came; bell: r's doorbell is readable; out: copy all that is queued
 * (true when done); linger: r's socket closed with data queued (true: r
 * stays until it is delivered). */
bool hv_pumps(const struct hv *hv, const struct hv_ring *r);
void hv_pump_start(struct hv *hv, struct hv_ring *r);
void hv_pump_forget(struct hv *hv, struct hv_ring *r);
void hv_pump(struct hv *hv, struct hv_ring *r);
void hv_pump_bell(struct hv *hv, struct hv_ring *r);
bool hv_pump_linger(struct hv *hv, struct hv_ring *r);
bool hv_pump_out(struct hv *hv, struct hv_ring *r);
/* Wait for `need` bytes of room in dst (a waiter there): false if the
 * room came meanwhile (then r is not stalled).  unwatch: r's doorbell
 * wakes the engine no more. */
bool hv_pump_stall(struct hv_ring *r, struct hv_ring *dst, uint32_t need);
void hv_pump_unwatch(struct hv_ring *r);
/* One turn of a shard's engine: 0 it worked, 1 it is idle but polls
 * (the caller yields first, unlocked), -1 it sleeps until woken. */
int hv_shard_turn(struct hv_shard *sh);
void hv_ring_event(struct hv *hv, struct hv_ring *r, uint32_t events);

/* shards.c */
int hv_engine_init(struct hv *hv);
void hv_engine_fini(struct hv *hv);
/* The loop's side: every shard locked around each event; the loop's own
 * shard's turn, as hv_shard_turn (-1 when copy threads do it). */
void hv_engine_lock(struct hv *hv);
void hv_engine_unlock(struct hv *hv);
int hv_engine_turn(struct hv *hv);
/* The shard's epoll set is readable (copy threads 0). */
void hv_shard_events(struct hv_shard *sh);
/* Where a new connection's queue goes; wake a shard that sleeps. */
struct hv_shard *hv_shard_pick(struct hv *hv, struct hv_ring *r);
void hv_shard_wake(struct hv_shard *sh);
uint32_t hv_engine_records(struct hv *hv, struct v4vp_rec_engine *recs,
			   uint32_t max);

/* sendv.c: a SEND (*max: the largest datagram its destination takes);
 * the checks of one message from `own` (0 and *out its ring, or the
 * sender's errno); the counters of one delivered. */
int hv_sendv(struct hv *hv, struct hv_domain *d, const struct v4vp_send *s,
	     const void *payload, uint32_t *max);
int hv_route_msg(struct hv *hv, struct hv_ring *own, const struct v4v_addr *to,
		 uint32_t type, uint32_t len, struct hv_ring **out);
void hv_count_tx(struct hv *hv, struct hv_domain *src, struct hv_ring *dst,
		 uint32_t len);

/* dgram_q.c, with r's shard locked: copy up to `budget` bytes of r's
 * datagram queue (the bytes taken); flush: all of it, false if a full
 * receiver stalls it; revoke: queues that may aim at ring `handle` (0:
 * all) recheck their destination. */
uint32_t hv_dgram_turn(struct hv *hv, struct hv_ring *r, uint32_t budget);
bool hv_dgram_flush(struct hv *hv, struct hv_ring *r);
/* The socket closed with datagrams a full receiver holds back: true, r
 * stays (its port freed) until they are delivered or their receiver
 * goes. */
bool hv_dgram_linger(struct hv *hv, struct hv_ring *r);
void hv_dgram_revoke(struct hv *hv, uint32_t handle);

/* ctl.c */
void hv_ctl_accept(struct hv *hv);
void hv_ctl_input(struct hv *hv, struct hv_conn *c);
void hv_ctl_close(struct hv *hv, struct hv_conn *c, const char *why);
/* A VM's channel `chan` as a control connection of its domain (NULL if
 * out of memory); one packet it sent, of n bytes (at most
 * V4VP_MAX_PACKET), read into hv_ctl_buf() first. */
struct hv_conn *hv_ctl_vm_open(struct hv *hv, struct hv_vm *vm,
			       uint32_t chan);
void *hv_ctl_buf(void);
void hv_ctl_packet(struct hv *hv, struct hv_conn *c, size_t n);

/* inet.c: TCP/IP addresses of domains (the interposer) */
ino_t hv_netns_of(pid_t pid);
/* The address `of` has as seen by `by`, in `family` (INET PEER's answer,
 * and the SYN's). */
void hv_inet_view(const struct hv_domain *of, const struct hv_domain *by,
		  uint16_t family, struct v4vp_inet_addr *out);
int hv_inet(struct hv *hv, struct hv_conn *c, const struct v4vp_inet *req,
	    struct v4vp_inet_reply *rep);

/* listing.c */
int hv_list(struct hv *hv, const struct v4vp_list *req, void *out,
	    size_t *outlen);

uint64_t hv_now_ms(void);

/*
 * vm.c, vm_chan.c: QEMU guests as domains.  v4vd is each VM's ivshmem
 * server; the guest talks through the control rings of its region
 * (src/vm/region.h).  Each object on the loop's epoll set starts with
 * its kind, so a VM has one small tag per descriptor.
 */
enum hv_vm_what { HV_VM_LISTEN, HV_VM_QEMU, HV_VM_BELL_IN, HV_VM_RING,
		  HV_VM_THROTTLE, HV_VM_ROOM };

struct hv_vm_ep {
	enum hv_kind kind;	/* HV_VM */
	enum hv_vm_what what;
	struct hv_vm *vm;
};

/* A ring of a VM: its place in the region, and our end of its doorbell
 * (the guest's end, were the guest a process), whose tokens we pass on
 * to the channel that registered it. */
struct hv_vm_ring {
	struct hv_vm_ep ep;	/* HV_VM_RING */
	int fd;
	uint32_t chan;
	uint32_t handle;
	uint64_t off;
	uint32_t pages;
	bool dead;		/* v4vd is done with the ring; the guest not */
	bool orphan;		/* the guest is done with it; v4vd not yet */
	uint32_t kick_tx, kick_flags; /* its queue when last looked at
				 * for a kick (hv_vm_kicked) */
	struct list link;
};

struct hv_vm {
	struct hv_vm_ep ep_listen, ep_qemu, ep_bell, ep_throttle, ep_room;
	char name[V4V_NAME_MAX];
	char path[108];		/* the QEMU socket */
	struct hv_domain *dom;
	uint64_t size;
	int memfd;
	void *mem;
	int listen_fd;
	int qemu_fd;		/* the connected QEMU, or -1 */
	int bell_in;		/* eventfd the guest rings (peer 0, vector 0) */
	int bell_out;		/* eventfd that interrupts the guest */
	int throttle;		/* timerfd: bell_in is unwatched until it fires */
	int room[2];		/* pipe of ring handles whose sender has room
				 * (any thread writes, the main loop sends
				 * ROOM) */
	uint32_t idle_bells;	/* doorbells that found nothing, this window */
	uint64_t window_ms;
	uint64_t throttled;	/* times we stopped listening to its doorbell */
	uint32_t h2g_off, heap_off;
	uint32_t attach;	/* the request we acknowledged */
	bool attached;
	bool resetting;		/* closing every channel: no CLOSE messages */
	struct v4v_ring_cons g2h;
	struct v4v_ring_prod h2g;
	struct hv_conn *chans[256];
	uint32_t nchans;
	uint8_t *page_used;	/* the heap, a byte a page (vm_ring.c) */
	uint32_t npages;
	struct list rings;	/* struct hv_vm_ring */
	uint64_t connects, attaches, link_resets, bells;
	uint64_t kicks;		/* queues found new by hv_vm_kicked */
	struct list link;
};

int hv_vm_init(struct hv *hv);
int hv_vm_add(struct hv *hv, struct hv_vm_spec *spec, struct hv_vm **out);
int hv_vm_del(struct hv *hv, const char *name);
void hv_vm_fini(struct hv *hv);
void hv_vm_event(struct hv *hv, struct hv_vm_ep *ep, uint32_t events);
ino_t hv_vm_netns(v4v_domid_t domid);
void hv_vm_link_reset(struct hv *hv, struct hv_vm *vm, const char *why);
bool hv_vm_link_input(struct hv *hv, struct hv_vm *vm);
/* A channel's reply (0, or a negative errno: the channel must go). */
int hv_vm_reply(struct hv_conn *c, const struct iovec *iov, int iovcnt);
void hv_vm_chan_closed(struct hv_conn *c);
/* vm_ring.c: a VM channel's REGISTER and UNREGISTER; a ring in a region
 * is going (its memory returns to the region). */
int hv_vm_register(struct hv *hv, struct hv_conn *c,
		   const struct v4vp_register *req,
		   struct v4vp_register_reply *out);
int hv_vm_unregister(struct hv *hv, struct hv_conn *c, uint32_t handle);
int hv_vm_accept(struct hv *hv, struct hv_conn *c,
		 const struct v4vp_accept *req, struct v4vp_accept_reply *out);
void hv_vm_guest_bell(struct hv_vm *vm, uint32_t chan, uint32_t handle);
bool hv_vm_kicked(struct hv *hv, struct hv_vm *vm);
/* A waiting sender of ring `handle` has room (any thread): the guest's
 * agent learns it by ROOM, from the main loop. */
void hv_vm_room(struct hv_vm *vm, uint32_t handle);
void hv_vm_room_event(struct hv_vm *vm);
/* Region memory for a ring of `len` bytes (NULL: the region is full);
 * its record's handle is the caller's to set.  unalloc: before the ring
 * was made. */
struct hv_vm_ring *hv_vm_ring_alloc(struct hv_vm *vm, size_t len);
void hv_vm_ring_unalloc(struct hv_vm *vm, struct hv_vm_ring *g);
/* At v4vd's exit: every record, whatever its state. */
void hv_vm_rings_free(struct hv *hv, struct hv_vm *vm);
void hv_vm_ring_gone(struct hv *hv, struct hv_ring *r);
void hv_vm_chan_rings_gone(struct hv *hv, struct hv_conn *c);
void hv_vm_bell_event(struct hv *hv, struct hv_vm_ep *ep, uint32_t events);
/* One message to the guest (vm_chan.c): 0, or -EAGAIN when its ring is
 * full. */
int hv_vm_put(struct hv_vm *vm, uint32_t type, uint32_t chan,
	      const struct iovec *iov, int iovcnt);
void hv_counters_add(struct v4vp_counters *c, const struct v4vp_counters *d);

#endif
