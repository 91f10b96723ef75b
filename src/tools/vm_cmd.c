/* SPDX-License-Identifier: MIT */
/* v4v vm: declare QEMU guests as domains of a running v4vd, or remove them. */
#include "tool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

static const char usage[] =
"Usage: v4v vm add NAME [SIZE]\n"
"       v4v vm del NAME\n"
"Declare a QEMU guest as the domain NAME of the running v4vd, as its\n"
"--vm NAME[=SIZE] option does at start-up, or remove one whose QEMU is\n"
"not running.  SIZE is the guest's region: a power of two from 1M to 1G\n"
"(K, M and G suffixes), 64M if left out.  add prints the domain and the\n"
"socket to start QEMU with (docs/vm.md).  Root or v4vd's admin group.\n";

/* 1M, 64M, 1G, or plain bytes; 0 if it is none of them. */
static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > (1ull << 40))
		return 0;
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	}
	return *end ? 0 : v;
}

static int bad_usage(const char *fmt, const char *arg)
{
	fputs("v4v vm: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'v4v vm -h'.\n", stderr);
	return EXIT_USAGE;
}

static int parse(int argc, char **argv, struct v4vp_vm *req)
{
	memset(req, 0, sizeof(*req));
	if (argc < 3)
		return bad_usage("%s", argc < 2 ? "add or del?" : "which VM?");
	if (!strcmp(argv[1], "add"))
		req->cmd = V4VP_VM_ADD;
	else if (!strcmp(argv[1], "del"))
		req->cmd = V4VP_VM_DEL;
	else
		return bad_usage("unknown command '%s' (add or del)", argv[1]);
	if (strlen(argv[2]) >= sizeof(req->name) || v4vp_name_valid(argv[2]))
		return bad_usage("'%s' is not a domain name (1 to 31 letters, "
				 "digits, '-', '_', '.')", argv[2]);
	strcpy(req->name, argv[2]);
	if (argc > 4 || (argc == 4 && req->cmd == V4VP_VM_DEL))
		return bad_usage("%s", "too many arguments");
	if (argc == 4 && !(req->size = parse_size(argv[3])))
		return bad_usage("bad size '%s' (like 16M or 1G)", argv[3]);
	return 0;
}

static void explain(const struct v4vp_vm *req, int rc)
{
	const char *n = req->name;

	if (rc == -EADDRINUSE)
		fprintf(stderr, "v4v vm: a domain named '%s' exists already\n",
			n);
	else if (rc == -EINVAL && req->cmd == V4VP_VM_ADD)
		fprintf(stderr, "v4v vm: the region must be a power of two "
			"from 1M to 1G\n");
	else if (rc == -ENOSPC)
		fprintf(stderr, "v4v vm: v4vd has as many VMs as it takes\n");
	else if (rc == -ENOENT)
		fprintf(stderr, "v4v vm: no VM named '%s'\n", n);
	else if (rc == -EBUSY)
		fprintf(stderr, "v4v vm: '%s' has its QEMU running: stop the "
			"guest first\n", n);
	else
		tool_err(req->cmd == V4VP_VM_ADD ? "vm add" : "vm del", rc);
}

int cmd_vm(int argc, char **argv)
{
	struct v4vp_vm_reply rep;
	struct v4vp_vm req;
	struct v4v_ctl *c;
	size_t len = 0;
	int rc;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage, stdout);
		return 0;
	}
	rc = parse(argc, argv, &req);
	if (rc)
		return rc;
	c = tool_ctl();
	rc = v4v_ctl_call(c, V4VP_VM, &req, sizeof(req), &rep, sizeof(rep),
			  &len);
	v4v_ctl_close(c);
	if (rc) {
		explain(&req, rc);
		return 1;
	}
	if (req.cmd == V4VP_VM_ADD) {
		rep.path[sizeof(rep.path) - 1] = '\0';
		printf("vm %s: domain %u; start its QEMU with\n"
		       "  -chardev socket,path=%s,id=v4v "
		       "-device ivshmem-doorbell,chardev=v4v,vectors=1\n",
		       req.name, (unsigned)rep.domid, rep.path);
	}
	return 0;
}
