/* SPDX-License-Identifier: MIT */
/*
 * Readiness for systemd (Type=notify), without libsystemd: the documented
 * protocol (sd_notify(3)) is one datagram, "READY=1", to the AF_UNIX
 * socket named by $NOTIFY_SOCKET ('@' at its start names an abstract
 * socket).  Nothing happens when the variable is unset.
 */
#include "hv.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void hv_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		   (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		hv_log(HV_LOG_WARN, "cannot tell systemd we are ready: %s",
		       strerror(errno));
	close(fd);
}
