/* SPDX-License-Identifier: MIT */
/* Built against an installed libv4v (pkg-config), as a user would: the
 * public headers and the library must be enough, and <v4v/link.h> must
 * stand alone (it names nothing of the uninstalled proto.h). */
#include <stdio.h>
#include <v4v/socket.h>
#include <v4v/link.h>

int main(void)
{
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	struct v4v_link_info info;
	int rc = v4v_link_info(&info);

	printf("v4v_socket: %d; v4v_link_info: %d (strict %d); socket %s\n",
	       fd, rc, rc == 0 && (info.hv_flags & V4V_LINK_HV_STRICT),
	       v4v_link_path());
	return 0;
}
