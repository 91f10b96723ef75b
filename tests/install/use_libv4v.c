/* SPDX-License-Identifier: MIT */
/* Built against an installed libv4v (pkg-config), as a user would: the
 * public headers and the library must be enough. */
#include <stdio.h>
#include <v4v/socket.h>

int main(void)
{
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);

	printf("v4v_socket: %d\n", fd);
	return 0;
}
