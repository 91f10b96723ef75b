/* SPDX-License-Identifier: MIT */
/*
 * Virtual machines as domains.  v4vd is the ivshmem server of each VM
 * declared with --vm: QEMU's ivshmem-doorbell device connects to the VM's
 * socket and gets the VM's region (a memfd only this guest and v4vd map)
 * and the eventfds of its doorbells.  The VM is one domain for its whole
 * life in v4vd; its domid comes from the socket QEMU connected to, never
 * from anything the guest says.  What the guest says arrives through the
 * region's control rings (src/vm/region.h) and is served by vm_chan.c.
 *
 * The ivshmem server protocol (QEMU docs/specs/ivshmem-spec): 8-byte
 * little-endian numbers, some with one descriptor.  v4vd is peer 0 and
 * the one guest peer 1.
 */
#include "hv.h"
#include "vm/region.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

static int ivshmem_msg(int fd, int64_t v, int pass)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { &v, sizeof(v) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (pass >= 0) {
		struct cmsghdr *cm;

		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass, sizeof(int));
	}
	v = (int64_t)htole64((uint64_t)v);
	return sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == sizeof(v)
		       ? 0 : -errno;
}

/* What a new QEMU is told, in the protocol's order: version, its id, the
 * region, our doorbell (peer 0, vector 0), its own interrupt vector. */
static int ivshmem_greet(struct hv_vm *vm, int fd)
{
	int rc = ivshmem_msg(fd, 0, -1);

	if (!rc)
		rc = ivshmem_msg(fd, V4V_VM_GUEST_PEER, -1);
	if (!rc)
		rc = ivshmem_msg(fd, -1, vm->memfd);
	if (!rc)
		rc = ivshmem_msg(fd, V4V_VM_HOST_PEER, vm->bell_in);
	if (!rc)
		rc = ivshmem_msg(fd, V4V_VM_GUEST_PEER, vm->bell_out);
	return rc;
}

static int watch(struct hv *hv, int fd, struct hv_vm_ep *ep, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = ep };

	return epoll_ctl(hv->epfd, EPOLL_CTL_ADD, fd, &e) ? -errno : 0;
}

static void qemu_gone(struct hv *hv, struct hv_vm *vm, const char *why)
{
	epoll_ctl(hv->epfd, EPOLL_CTL_DEL, vm->qemu_fd, NULL);
	close(vm->qemu_fd);
	vm->qemu_fd = -1;
	hv_vm_link_reset(hv, vm, why);
	vm->dom->pid = 0;
	hv_log(HV_LOG_INFO, "vm %s: QEMU gone (%s); %" PRIu64 " doorbells "
	       "heard, %" PRIu64 " queues woken by its processes' kicks",
	       vm->name, why, vm->bells, vm->kicks);
}

static void qemu_accept(struct hv *hv, struct hv_vm *vm)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd = accept4(vm->listen_fd, NULL, NULL,
			 SOCK_CLOEXEC | SOCK_NONBLOCK), rc;

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		cred.pid = 0;
	if (vm->qemu_fd >= 0) {
		/* One guest per region: a second would share its memory. */
		hv_log(HV_LOG_WARN, "vm %s: refusing pid %d, QEMU pid %d has it",
		       vm->name, (int)cred.pid, (int)vm->dom->pid);
		close(fd);
		return;
	}
	hv_vm_link_reset(hv, vm, "new guest");
	rc = ivshmem_greet(vm, fd);
	if (!rc)
		rc = watch(hv, fd, &vm->ep_qemu, EPOLLIN | EPOLLRDHUP);
	if (rc) {
		hv_log(HV_LOG_WARN, "vm %s: cannot serve pid %d: %s", vm->name,
		       (int)cred.pid, strerror(-rc));
		close(fd);
		return;
	}
	vm->qemu_fd = fd;
	vm->dom->pid = cred.pid;
	vm->connects++;
	hv_log(HV_LOG_INFO, "vm %s (domain %u): QEMU pid %d connected",
	       vm->name, vm->dom->domid, (int)cred.pid);
}

/*
 * A guest rings only when it put a message into a ring we armed, so its
 * doorbells find work.  One that rings for nothing, over and over (a
 * loop on the doorbell register), would keep v4vd's loop busy for it:
 * past 64 empty doorbells in 10 ms we stop listening to it for 10 ms
 * and look at its ring once when the time is up.  Only that guest waits.
 */
static void idle_bell(struct hv *hv, struct hv_vm *vm)
{
	struct itimerspec t = { .it_value = { 0, 10000000 } };
	uint64_t now = hv_now_ms();

	if (now - vm->window_ms >= 10) {
		vm->window_ms = now;
		vm->idle_bells = 0;
	}
	if (++vm->idle_bells < 64 || vm->throttle < 0)
		return;
	epoll_ctl(hv->epfd, EPOLL_CTL_DEL, vm->bell_in, NULL);
	timerfd_settime(vm->throttle, 0, &t, NULL);
	vm->idle_bells = 0;
	if (!vm->throttled++)
		hv_log(HV_LOG_WARN, "vm %s: its guest rings for nothing, "
		       "over and over: its doorbell is heard every 10 ms",
		       vm->name);
}

void hv_vm_event(struct hv *hv, struct hv_vm_ep *ep, uint32_t events)
{
	struct hv_vm *vm = ep->vm;

	if (ep->what == HV_VM_RING) {
		hv_vm_bell_event(hv, ep, events);
	} else if (ep->what == HV_VM_LISTEN) {
		qemu_accept(hv, vm);
	} else if (ep->what == HV_VM_QEMU) {
		char b[8];

		/* QEMU never speaks: anything but silence is its end. */
		if ((events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) ||
		    recv(vm->qemu_fd, b, sizeof(b), MSG_DONTWAIT) >= 0)
			qemu_gone(hv, vm, "connection closed");
	} else if (ep->what == HV_VM_ROOM) {
		hv_vm_room_event(vm);
	} else if (ep->what == HV_VM_THROTTLE) {
		uint64_t n;

		if (read(vm->throttle, &n, sizeof(n)) == sizeof(n))
			watch(hv, vm->bell_in, &vm->ep_bell, EPOLLIN);
		hv_vm_link_input(hv, vm);
	} else {
		uint64_t n;

		if (read(vm->bell_in, &n, sizeof(n)) == sizeof(n))
			vm->bells += n;
		/* Both: the agent's control messages and the processes'
		 * kicks come through the one doorbell. */
		bool input = hv_vm_link_input(hv, vm);
		bool kicked = hv_vm_kicked(hv, vm);

		if (!input && !kicked)
			idle_bell(hv, vm);
	}
}

static int open_listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* v4vd owns the VM directory */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(path, 0600) || listen(fd, 4)) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static int make_region(struct hv_vm *vm)
{
	vm->memfd = memfd_create("v4v-vm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (vm->memfd < 0)
		return -errno;
	if (ftruncate(vm->memfd, (off_t)vm->size) ||
	    fcntl(vm->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		return -errno;
	vm->mem = mmap(NULL, vm->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->memfd, 0);
	if (vm->mem == MAP_FAILED) {
		vm->mem = NULL;
		return -errno;
	}
	return 0;
}

static void vm_free(struct hv *hv, struct hv_vm *vm)
{
	if (vm->listen_fd >= 0) {
		close(vm->listen_fd);
		unlink(vm->path);
	}
	if (vm->qemu_fd >= 0)
		qemu_gone(hv, vm, "v4vd exiting");
	hv_vm_rings_free(hv, vm);
	if (vm->mem)
		munmap(vm->mem, vm->size);
	free(vm->page_used);
	if (vm->memfd >= 0)
		close(vm->memfd);
	if (vm->bell_in >= 0)
		close(vm->bell_in);
	if (vm->bell_out >= 0)
		close(vm->bell_out);
	if (vm->throttle >= 0)
		close(vm->throttle);
	for (int i = 0; i < 2; i++)
		if (vm->room[i] >= 0)
			close(vm->room[i]);
	if (vm->dom) {
		vm->dom->vm = NULL;
		vm->dom->nconns--;
		hv_domain_put(hv, vm->dom);
	}
	free(vm);
}

static int vm_new(struct hv *hv, const struct hv_vm_spec *spec)
{
	struct hv_conn owner = { .pid = 0, .uid = 0, .admin = false };
	struct hv_vm *vm = calloc(1, sizeof(*vm));
	int rc, give;

	if (!vm)
		return -ENOMEM;
	vm->listen_fd = vm->qemu_fd = vm->memfd = -1;
	vm->bell_in = vm->bell_out = vm->room[0] = vm->room[1] = -1;
	vm->ep_listen = (struct hv_vm_ep){ HV_VM, HV_VM_LISTEN, vm };
	vm->ep_qemu = (struct hv_vm_ep){ HV_VM, HV_VM_QEMU, vm };
	vm->ep_bell = (struct hv_vm_ep){ HV_VM, HV_VM_BELL_IN, vm };
	vm->ep_throttle = (struct hv_vm_ep){ HV_VM, HV_VM_THROTTLE, vm };
	vm->ep_room = (struct hv_vm_ep){ HV_VM, HV_VM_ROOM, vm };
	vm->throttle = -1;
	list_init(&vm->rings);
	vm->size = spec->size;
	snprintf(vm->name, sizeof(vm->name), "%s", spec->name);
	if ((size_t)snprintf(vm->path, sizeof(vm->path), "%s/%s.sock",
			     hv->cfg.vm_dir, spec->name) >= sizeof(vm->path)) {
		free(vm);
		return -ENAMETOOLONG;
	}
	give = hv_domain_new(hv, &owner, spec->name);
	if (give < 0) {
		free(vm);
		return give;
	}
	close(give); /* the VM's domain has no host process to join it */
	vm->dom = owner.dom;
	vm->dom->vm = vm;
	/* Loopback inside the VM is the VM's own: a network namespace of
	 * its own, by a number no real one has. */
	vm->dom->netns = hv_vm_netns(vm->dom->domid);
	rc = make_region(vm);
	if (!rc) {
		vm->bell_in = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vm->bell_out = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vm->throttle = timerfd_create(CLOCK_MONOTONIC,
					      TFD_CLOEXEC | TFD_NONBLOCK);
		if (vm->bell_in < 0 || vm->bell_out < 0 || vm->throttle < 0 ||
		    pipe2(vm->room, O_CLOEXEC | O_NONBLOCK))
			rc = -errno;
	}
	if (!rc)
		rc = vm->listen_fd = open_listener(vm->path);
	if (rc >= 0)
		rc = watch(hv, vm->listen_fd, &vm->ep_listen, EPOLLIN);
	if (!rc)
		rc = watch(hv, vm->bell_in, &vm->ep_bell, EPOLLIN);
	if (!rc)
		rc = watch(hv, vm->throttle, &vm->ep_throttle, EPOLLIN);
	if (!rc)
		rc = watch(hv, vm->room[0], &vm->ep_room, EPOLLIN);
	if (rc) {
		hv_log(HV_LOG_ERR, "vm %s: %s: %s", spec->name, vm->path,
		       strerror(-rc));
		vm_free(hv, vm);
		return rc;
	}
	hv_vm_link_reset(hv, vm, "created");
	list_add_tail(&hv->vms, &vm->link);
	hv_log(HV_LOG_INFO, "vm %s: domain %u, %llu MiB region, QEMU socket %s",
	       vm->name, vm->dom->domid,
	       (unsigned long long)(vm->size >> 20), vm->path);
	return 0;
}

static int vm_dir_ready(struct hv *hv)
{
	if (mkdir(hv->cfg.vm_dir, 0700) && errno != EEXIST) {
		int e = errno;

		hv_log(HV_LOG_ERR, "vm directory %s: %s", hv->cfg.vm_dir,
		       strerror(e));
		return -e;
	}
	return 0;
}

int hv_vm_init(struct hv *hv)
{
	list_init(&hv->vms);
	if (!hv->cfg.nvms)
		return 0;
	if (vm_dir_ready(hv))
		return -1;
	for (uint32_t i = 0; i < hv->cfg.nvms; i++)
		if (vm_new(hv, &hv->cfg.vms[i]))
			return -1;
	return 0;
}

static struct hv_vm *vm_named(struct hv *hv, const char *name)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &hv->vms) {
		struct hv_vm *vm = container_of(pos, struct hv_vm, link);

		if (!strcmp(vm->name, name))
			return vm;
	}
	return NULL;
}

/* `v4v vm add`: what --vm does at start-up, while v4vd runs.  A size of
 * 0 is the default. */
int hv_vm_add(struct hv *hv, struct hv_vm_spec *spec, struct hv_vm **out)
{
	struct list *pos, *tmp;
	uint32_t n = 0;
	int rc;

	if (!spec->size)
		spec->size = V4V_VM_DEFAULT_REGION;
	if (v4vp_name_valid(spec->name) || !v4v_vm_region_ok(spec->size))
		return -EINVAL;
	list_for_each_safe(pos, tmp, &hv->vms)
		n++;
	if (n >= HV_MAX_VMS)
		return -ENOSPC;
	rc = vm_dir_ready(hv);
	if (!rc)
		rc = vm_new(hv, spec);
	if (!rc)
		*out = vm_named(hv, spec->name);
	return rc;
}

/* `v4v vm del`: only a VM no QEMU is connected to (its guest's sockets
 * would lose their rings under it). */
int hv_vm_del(struct hv *hv, const char *name)
{
	struct hv_vm *vm = vm_named(hv, name);

	if (!vm || vm->qemu_fd >= 0)
		return vm ? -EBUSY : -ENOENT;
	hv_log(HV_LOG_INFO, "vm %s: removed (domain %u)", vm->name,
	       vm->dom->domid);
	list_del(&vm->link);
	vm_free(hv, vm);
	return 0;
}

void hv_vm_fini(struct hv *hv)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &hv->vms) {
		struct hv_vm *vm = container_of(pos, struct hv_vm, link);

		list_del(&vm->link);
		vm_free(hv, vm);
	}
}

ino_t hv_vm_netns(v4v_domid_t domid)
{
	return (ino_t)1 << 62 | domid;
}
