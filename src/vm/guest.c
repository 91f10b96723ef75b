/* SPDX-License-Identifier: MIT */
#include "vm/guest.h"
#include "proto/proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SYSFS "/sys/bus/pci/devices"

static bool is_ivshmem(const char *dev)
{
	char path[320], v[16] = "", d[16] = "";
	FILE *f;

	snprintf(path, sizeof(path), SYSFS "/%s/vendor", dev);
	if ((f = fopen(path, "r"))) {
		if (!fgets(v, sizeof(v), f))
			v[0] = 0;
		fclose(f);
	}
	snprintf(path, sizeof(path), SYSFS "/%s/device", dev);
	if ((f = fopen(path, "r"))) {
		if (!fgets(d, sizeof(d), f))
			d[0] = 0;
		fclose(f);
	}
	return !strncmp(v, "0x1af4", 6) && !strncmp(d, "0x1110", 6);
}

static int find_dev(char *out, size_t cap)
{
	DIR *dir = opendir(SYSFS);
	struct dirent *e;
	int rc = -ENODEV;

	if (!dir)
		return -errno;
	while ((e = readdir(dir))) {
		if (e->d_name[0] != '.' && is_ivshmem(e->d_name) &&
		    strlen(e->d_name) < cap) {
			strcpy(out, e->d_name);
			rc = 0;
			break;
		}
	}
	closedir(dir);
	return rc;
}

int v4v_guest_bar_open(const char *dev, int bar)
{
	char path[320];

	snprintf(path, sizeof(path), SYSFS "/%s/resource%d", dev, bar);
	return open(path, O_RDWR | O_SYNC | O_CLOEXEC);
}

static void *map_bar(const char *dev, int bar, size_t *size)
{
	struct stat st;
	void *p;
	int fd = v4v_guest_bar_open(dev, bar);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || st.st_size <= 0) {
		close(fd);
		return NULL;
	}
	*size = (size_t)st.st_size;
	p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

int v4v_guest_open(struct v4v_guest *g, const char *dev)
{
	size_t rsize;
	int rc;

	memset(g, 0, sizeof(*g));
	g->vfio = g->irq = -1;
	if (dev)
		snprintf(g->dev, sizeof(g->dev), "%s", dev);
	else if ((rc = find_dev(g->dev, sizeof(g->dev))))
		return rc;
	g->regs = map_bar(g->dev, 0, &rsize);
	g->mem = map_bar(g->dev, 2, &g->size);
	if (!g->regs || !g->mem)
		return -errno ? -errno : -ENODEV;
	g->hdr = (struct v4v_vm_region *)g->mem;
	return 0;
}

/* The host formatted the rings; trust its header only as far as the
 * region goes (v4vd is trusted, but a wrong header must not crash us). */
static int views(struct v4v_guest *g)
{
	struct v4v_vm_region h;
	struct v4v_ring a, b;
	size_t one;

	memcpy(&h, g->hdr, sizeof(h));
	one = v4v_ring_mem_size(h.ctl_size);
	if (h.magic != V4V_VM_MAGIC || h.version != V4V_VM_VERSION ||
	    h.size != g->size || v4v_ring_size_check(h.ctl_size) ||
	    !v4v_guest_at(g, h.g2h_off, one) || !v4v_guest_at(g, h.h2g_off, one))
		return -EPROTO;
	v4v_ring_view(&a, g->mem + h.g2h_off, one, h.ctl_size);
	v4v_ring_view(&b, g->mem + h.h2g_off, one, h.ctl_size);
	v4v_ring_prod_init(&g->g2h, &a);
	v4v_ring_cons_init(&g->h2g, &b);
	return 0;
}

static void ring_host(struct v4v_guest *g)
{
	g->regs[V4V_VM_REG_DOORBELL / 4] = V4V_VM_HOST_PEER << 16 | 0;
}

/* Sleep a little longer each time nothing came: 20 us to 2 ms. */
static void back_off(unsigned *step)
{
	struct timespec ts = { 0, 20000L << (*step < 7 ? *step : 7) };

	nanosleep(&ts, NULL);
	(*step)++;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int v4v_guest_attach(struct v4v_guest *g, int timeout_ms)
{
	uint32_t nonce = (uint32_t)now_ms() * 2654435761u ^ (uint32_t)getpid();
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	unsigned step = 0;

	if (!nonce)
		nonce = 1;
	g->attach = nonce;
	__atomic_store_n(&g->hdr->attach_req, nonce, __ATOMIC_RELEASE);
	ring_host(g);
	while (__atomic_load_n(&g->hdr->attach_ack, __ATOMIC_ACQUIRE) !=
	       nonce) {
		if (now_ms() > end)
			return -ETIMEDOUT;
		back_off(&step);
		if (step % 64 == 0)
			ring_host(g); /* v4vd may have started since */
	}
	return views(g);
}

int v4v_guest_put(struct v4v_guest *g, uint32_t type, uint32_t chan,
		  const struct iovec *iov, int iovcnt)
{
	struct v4v_addr src = { .port = chan };
	bool kick = false;
	int rc = v4v_ring_insert(&g->g2h, &src, type, iov, iovcnt, &kick);

	if (!rc && kick)
		ring_host(g);
	return rc;
}

int v4v_guest_get(struct v4v_guest *g, uint32_t *type, uint32_t *chan,
		  void *buf, size_t cap, size_t *len, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	unsigned step = 0;
	struct v4v_ring_msg m;
	int rc;

	while ((rc = v4v_ring_peek(&g->h2g, &m)) == 0) {
		if (timeout_ms == 0 || (timeout_ms > 0 && now_ms() > end))
			return 0;
		back_off(&step);
	}
	if (rc < 0)
		return rc;
	*type = m.message_type;
	*chan = m.source.port;
	*len = m.payload_len;
	v4v_ring_read(&g->h2g, 0, buf, m.payload_len < cap ? m.payload_len : cap);
	v4v_ring_consume(&g->h2g, &m);
	return 1;
}

static uint8_t reply[V4VP_MAX_PACKET];

int v4v_guest_call(struct v4v_guest *g, uint32_t chan, uint16_t op,
		   const struct iovec *body, int nbody, void *rep,
		   size_t replen, int timeout_ms,
		   void (*on_bell)(uint32_t chan, uint32_t handle))
{
	struct iovec iov[4];
	struct v4vp_hdr h, r;
	uint32_t type, from;
	size_t len;
	int rc;

	if (nbody > 3)
		return -EINVAL;
	v4vp_hdr_init(&h, op, ++g->seq, 0);
	iov[0] = (struct iovec){ &h, sizeof(h) };
	memcpy(iov + 1, body, (size_t)nbody * sizeof(*iov));
	rc = v4v_guest_put(g, V4V_VMC_PKT, chan, iov, nbody + 1);
	if (rc)
		return rc;
	for (;;) {
		rc = v4v_guest_get(g, &type, &from, reply, sizeof(reply), &len,
				   timeout_ms);
		if (rc <= 0)
			return rc ? rc : -ETIMEDOUT;
		if (type == V4V_VMC_BELL && len == sizeof(uint32_t)) {
			uint32_t handle;

			memcpy(&handle, reply, sizeof(handle));
			if (on_bell)
				on_bell(from, handle);
			continue;
		}
		if (from != chan)
			continue;
		if (type == V4V_VMC_CLOSE)
			return -ECONNRESET;
		if (type != V4V_VMC_PKT || len > sizeof(reply) ||
		    v4vp_check_reply(reply, len))
			return -EPROTO;
		memcpy(&r, reply, sizeof(r));
		if (r.seq != g->seq)
			continue;
		if (r.status < 0)
			return r.status;
		if (len - sizeof(r) != replen)
			return -EPROTO;
		memcpy(rep, reply + sizeof(r), replen);
		return 0;
	}
}

bool v4v_guest_attached(const struct v4v_guest *g)
{
	return g->attach && __atomic_load_n(&g->hdr->attach_ack,
					    __ATOMIC_ACQUIRE) == g->attach;
}

void *v4v_guest_at(struct v4v_guest *g, uint64_t off, size_t len)
{
	if (off > g->size || len > g->size - off)
		return NULL;
	return g->mem + off;
}
