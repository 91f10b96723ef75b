/* SPDX-License-Identifier: MIT */
/*
 * One byte-stream connection, over a V4V stream socket or TCP, with the
 * same calls for both.  Addresses are "v4v:DOMAIN:PORT" (DOMAIN a domid
 * or a name) and "tcp:HOST:PORT".
 */
#ifndef RGPU_CONN_H
#define RGPU_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Receive ring of V4V connections: big enough for several 128 KiB
 * messages in flight while the reader copies one out. */
#define RGPU_V4V_RING (8u << 20)

struct rgpu_conn {
	int fd;
	bool v4v;
};

/* Read exactly n bytes.  Returns the count read; when it is short, *err
 * is 0 at end of stream, else an errno (EAGAIN: the receive timeout). */
size_t conn_read(struct rgpu_conn *c, void *buf, size_t n, int *err);
/* Write all n bytes: 0 or -errno. */
int conn_write(struct rgpu_conn *c, const void *buf, size_t n);
/* The same for bulk data, over V4V in messages of up to `piece` bytes
 * copied straight into the ring (v4v_send_zc): the receiver's device can
 * then copy a whole piece out of its ring at once. */
int conn_write_bulk(struct rgpu_conn *c, const void *buf, size_t n,
		    size_t piece);
void conn_close(struct rgpu_conn *c);
/* Close after an answer the peer must still get: end our side, then read
 * and drop what the peer still sends for a moment (at most 200 ms, 4 MiB)
 * so that closing with its data unread does not reset the connection and
 * discard our answer before the peer reads it. */
void conn_linger_close(struct rgpu_conn *c);
/* SO_RCVTIMEO, in milliseconds (0: none). */
int conn_set_timeout(struct rgpu_conn *c, unsigned ms);

/* Connect to "v4v:..." or "tcp:...": 0, or -errno with why[] filled. */
int conn_dial(const char *addr, struct rgpu_conn *c, char *why, size_t whysz);

/* Listeners: fd, or -errno with why[] filled.  tcp_addr is "[HOST:]PORT"
 * (default host 127.0.0.1; "0.0.0.0" for every interface). */
int conn_listen_v4v(uint32_t port, uint32_t ring, char *why, size_t whysz);
int conn_listen_tcp(const char *tcp_addr, char *why, size_t whysz);
/* Accept one connection; `peer` gets its address as text. */
int conn_accept(int lfd, bool v4v, struct rgpu_conn *c, char *peer,
		size_t peersz);
/* The listener's address as text ("5:7000", "127.0.0.1:7000"). */
void conn_local_name(int lfd, bool v4v, char *out, size_t outsz);

#endif
