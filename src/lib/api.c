/* SPDX-License-Identifier: MIT */
/* The BSD-shaped entry points that move data, and address helpers. */
#include "sock.h"
#include "v4v/link.h"

#include <stdlib.h>
#include <string.h>

ssize_t v4v_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct v4v_sock *s = sock_get(fd);
	ssize_t n;

	if (!s)
		return -1;
	n = dgram_sendmsg(s, msg, flags);
	sock_put(s);
	return n;
}

ssize_t v4v_sendto(int fd, const void *buf, size_t len, int flags,
		   const struct sockaddr *addr, socklen_t alen)
{
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_name = (void *)addr, .msg_namelen = alen,
			      .msg_iov = &iov, .msg_iovlen = 1 };

	return v4v_sendmsg(fd, &msg, flags);
}

ssize_t v4v_send(int fd, const void *buf, size_t len, int flags)
{
	return v4v_sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t v4v_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct v4v_sock *s = sock_get(fd);
	ssize_t n;

	if (!s)
		return -1;
	n = dgram_recvmsg(s, msg, flags);
	sock_put(s);
	return n;
}

ssize_t v4v_recvfrom(int fd, void *buf, size_t len, int flags,
		     struct sockaddr *addr, socklen_t *alen)
{
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_name = addr,
			      .msg_namelen = alen ? *alen : 0,
			      .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (addr && !alen)
		return v4v_fail(-EFAULT);
	n = v4v_recvmsg(fd, &msg, flags);
	if (n >= 0 && alen)
		*alen = msg.msg_namelen;
	return n;
}

ssize_t v4v_recv(int fd, void *buf, size_t len, int flags)
{
	return v4v_recvfrom(fd, buf, len, flags, NULL, NULL);
}

int v4v_domid(void)
{
	struct v4v_link_info info;
	int rc = v4v_link_info(&info);

	return rc ? (int)v4v_fail(rc) : info.domid;
}

int v4v_lookup(const char *name)
{
	v4v_domid_t id;
	int rc = v4v_link_lookup(name, &id);

	return rc ? (int)v4v_fail(rc) : id;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!s[0] || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int v4v_parse_addr(const char *s, struct sockaddr_v4v *out)
{
	char dom[V4V_NAME_MAX];
	const char *colon = strrchr(s, ':');
	uint32_t port, id;
	int rc;

	if (!colon || (size_t)(colon - s) >= sizeof(dom) || colon == s)
		return (int)v4v_fail(-EINVAL);
	memcpy(dom, s, (size_t)(colon - s));
	dom[colon - s] = '\0';
	if (parse_u32(colon + 1, &port))
		return (int)v4v_fail(-EINVAL);
	if (parse_u32(dom, &id) == 0) {
		if (id > V4V_DOMID_MAX)
			return (int)v4v_fail(-EINVAL);
	} else {
		rc = v4v_lookup(dom);
		if (rc < 0)
			return -1;
		id = (uint32_t)rc;
	}
	memset(out, 0, sizeof(*out));
	out->v4v_family = AF_V4V;
	out->v4v_domid = (v4v_domid_t)id;
	out->v4v_port = port;
	return 0;
}
