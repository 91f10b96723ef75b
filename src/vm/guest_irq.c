/* SPDX-License-Identifier: MIT */
/*
 * Interrupts from v4vd to a guest: the ivshmem device's MSI-X vector 0,
 * delivered to user space by vfio-pci as an eventfd.  Linux has no
 * ivshmem driver, and vfio is the one generic way to get a PCI device's
 * MSI-X into a program; vfio wants the device in an IOMMU group, so the
 * guest needs a (virtual) IOMMU: QEMU's q35 machine with
 * `-device intel-iommu,intremap=on` and `intel_iommu=on` on the guest's
 * command line.  The device's memory stays mapped through sysfs (done
 * before this); vfio is used for its interrupt only, and no DMA is set
 * up (ivshmem does none).
 */
#include "vm/guest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYSFS "/sys/bus/pci/devices"

static int put_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	n = n < 0 ? -errno : 0;
	close(fd);
	return (int)n;
}

/* The device's IOMMU group number, or a negative errno. */
static int iommu_group(const char *dev)
{
	char path[320], link[PATH_MAX];
	const char *slash;
	ssize_t n;

	snprintf(path, sizeof(path), SYSFS "/%s/iommu_group", dev);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = 0;
	slash = strrchr(link, '/');
	return slash ? atoi(slash + 1) : -EINVAL;
}

/* Hand the device to vfio-pci (it has no other driver: Linux has none
 * for ivshmem). */
static int bind_vfio(const char *dev, const char **why)
{
	char path[320], drv[PATH_MAX];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), SYSFS "/%s/driver", dev);
	n = readlink(path, drv, sizeof(drv) - 1);
	if (n > 0) {
		drv[n] = 0;
		if (strstr(drv, "/vfio-pci"))
			return 0;
		*why = "the device has another driver";
		return -EBUSY;
	}
	if (stat("/sys/bus/pci/drivers/vfio-pci", &st)) {
		*why = "vfio-pci is not loaded (modprobe vfio-pci)";
		return -ENOENT;
	}
	snprintf(path, sizeof(path), SYSFS "/%s/driver_override", dev);
	if (put_str(path, "vfio-pci") || put_str("/sys/bus/pci/drivers_probe",
						  dev)) {
		*why = "cannot bind the device to vfio-pci";
		return -errno ? -errno : -EIO;
	}
	return 0;
}

/* The vfio device descriptor, through a type-1 container of its group. */
static int vfio_device(const char *dev, int group, const char **why)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	char path[64];
	int cont, grp, fd = -1;

	cont = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	snprintf(path, sizeof(path), "/dev/vfio/%d", group);
	grp = open(path, O_RDWR | O_CLOEXEC);
	if (cont < 0 || grp < 0) {
		*why = "cannot open /dev/vfio";
	} else if (ioctl(cont, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
		   ioctl(cont, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0) {
		*why = "vfio has no type-1 IOMMU (modprobe vfio_iommu_type1)";
	} else if (ioctl(grp, VFIO_GROUP_GET_STATUS, &gs) ||
		   !(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		*why = "the device's IOMMU group holds other devices";
	} else if (ioctl(grp, VFIO_GROUP_SET_CONTAINER, &cont) ||
		   ioctl(cont, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU)) {
		*why = "vfio refused the IOMMU container";
	} else if ((fd = ioctl(grp, VFIO_GROUP_GET_DEVICE_FD, dev)) < 0) {
		*why = "vfio refused the device";
	}
	/* On success both stay open for the agent's life: the device is
	 * used only while its group sits in its container. */
	if (fd < 0 && grp >= 0)
		close(grp);
	if (fd < 0 && cont >= 0)
		close(cont);
	return fd;
}

/* An MSI is a write by the device: QEMU delivers none from a device
 * whose bus mastering is off, and vfio leaves it off. */
static int bus_master(int devfd)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri),
				       .index = VFIO_PCI_CONFIG_REGION_INDEX };
	uint16_t cmd;

	if (ioctl(devfd, VFIO_DEVICE_GET_REGION_INFO, &ri) ||
	    pread(devfd, &cmd, sizeof(cmd), (off_t)ri.offset + PCI_COMMAND) !=
		    sizeof(cmd))
		return -errno ? -errno : -EIO;
	if (cmd & PCI_COMMAND_MASTER)
		return 0;
	cmd |= PCI_COMMAND_MASTER;
	if (pwrite(devfd, &cmd, sizeof(cmd), (off_t)ri.offset + PCI_COMMAND) !=
	    sizeof(cmd))
		return -errno ? -errno : -EIO;
	return 0;
}

/* MSI-X vector 0 triggers `efd`.  The header and its one fd are laid
 * out in a byte buffer: a struct around vfio_irq_set's flexible array
 * is a GNU extension. */
static int msix_to(int devfd, int efd)
{
	struct vfio_irq_set s = {
		.argsz = sizeof(s) + sizeof(int32_t),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD |
			 VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSIX_IRQ_INDEX,
		.start = 0,
		.count = 1,
	};
	_Alignas(struct vfio_irq_set) unsigned char buf[sizeof(s) +
							 sizeof(int32_t)];
	int32_t fd = efd;

	memcpy(buf, &s, sizeof(s));
	memcpy(buf + sizeof(s), &fd, sizeof(fd));
	return ioctl(devfd, VFIO_DEVICE_SET_IRQS, buf) ? -errno : 0;
}

int v4v_guest_irq_open(struct v4v_guest *g, const char **why)
{
	int group = iommu_group(g->dev), rc, efd;

	*why = NULL;
	if (group < 0) {
		*why = "the device is in no IOMMU group (guest needs q35 with "
		       "intel-iommu and intel_iommu=on)";
		return group;
	}
	rc = bind_vfio(g->dev, why);
	if (rc)
		return rc;
	g->vfio = vfio_device(g->dev, group, why);
	if (g->vfio < 0)
		return -EIO;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0 || (rc = bus_master(g->vfio)) ||
	    (rc = msix_to(g->vfio, efd))) {
		*why = "vfio refused to route MSI-X vector 0";
		if (efd >= 0)
			close(efd);
		close(g->vfio);
		g->vfio = -1;
		return efd < 0 ? -errno : rc;
	}
	g->irq = efd;
	return 0;
}
