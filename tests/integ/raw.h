/* SPDX-License-Identifier: MIT */
/*
 * Talking to v4vd by hand, for tests that must send what libv4v never
 * would: a raw control connection, requests with any body and any
 * descriptors, and replies checked to the letter.
 */
#ifndef V4V_TEST_RAW_H
#define V4V_TEST_RAW_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* What libv4v's datagram sockets read (V4V_MT_DGRAM, src/lib/sock.h). */
#define MT_DGRAM 0x44475231u

/* raw_reply results that are not a status from v4vd. */
#define RAW_EOF (-100000)	/* v4vd closed the connection */
#define RAW_TIMEOUT (-100001)	/* no reply within 3 s */
#define RAW_BAD (-100002)	/* a reply that breaks the protocol */

struct raw {
	int fd;
	uint16_t op;
	uint32_t seq;
};

int raw_dial(struct raw *r);
int raw_bytes(struct raw *r, const void *buf, size_t len,
	      const int *fds, int nfds);
int raw_send(struct raw *r, uint16_t op, const void *body, size_t len,
	     const void *payload, size_t plen, const int *fds, int nfds);
int raw_reply(struct raw *r, void *rep, size_t replen, int *rfd);
int raw_call(struct raw *r, uint16_t op, const void *body, size_t len,
	     const int *fds, int nfds, void *rep, size_t replen);
int raw_hello(struct raw *r, uint32_t flags, const int *fds, int nfds,
	      v4v_domid_t *domid, int *cap);
int raw_send_msg(struct raw *r, uint32_t handle, v4v_domid_t domid,
		 uint32_t port, const void *data, uint32_t len);

#endif
