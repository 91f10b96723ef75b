/* SPDX-License-Identifier: MIT */
/*
 * Domains: identities that only the hypervisor assigns.
 *
 * A control connection that says HELLO NEW becomes a new domain and gets a
 * capability: a socket the hypervisor made and keeps a reference to, so its
 * inode number names exactly this domain while it lives.  A process that
 * holds the capability (a child that inherited it) proves membership by
 * passing it back in HELLO JOIN.  Nothing a domain says about itself (a
 * name, a pid) is ever taken as identity.
 */
#include "hv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct hv_domain *hv_domain_by_id(struct hv *hv, v4v_domid_t domid)
{
	return domid <= V4V_DOMID_MAX ? hv->domains[domid] : NULL;
}

struct hv_domain *hv_domain_by_name(struct hv *hv, const char *name)
{
	if (!name[0])
		return NULL;
	for (unsigned i = 0; i <= V4V_DOMID_MAX; i++) {
		struct hv_domain *d = hv->domains[i];

		if (d && !strcmp(d->name, name))
			return d;
	}
	return NULL;
}

/* Domids are handed out round-robin so that a dead domain's id is not
 * reused at once by a newcomer its peers would mistake for it. */
static int alloc_domid(struct hv *hv, v4v_domid_t *out)
{
	for (unsigned n = 0; n <= V4V_DOMID_MAX; n++) {
		v4v_domid_t id = hv->next_domid;

		hv->next_domid = id >= V4V_DOMID_MAX ? 1 : id + 1;
		if (id && !hv->domains[id]) {
			*out = id;
			return 0;
		}
	}
	return -ENOSPC;
}

static int make_cap(int *keep, int *give, ino_t *ino)
{
	int sv[2];
	struct stat st;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	/* One end is given away; we keep a second reference to the same
	 * socket so its inode cannot be recycled while the domain lives. */
	*give = sv[0];
	*keep = dup(sv[0]);
	close(sv[1]);
	if (*keep < 0 || fstat(*give, &st)) {
		int e = -errno;

		close(*give);
		if (*keep >= 0)
			close(*keep);
		return e;
	}
	*ino = st.st_ino;
	return 0;
}

/* Returns the capability fd to hand to the new domain (caller closes it
 * after sending), or a negative errno. */
int hv_domain_new(struct hv *hv, struct hv_conn *c, const char *name)
{
	struct hv_domain *d;
	v4v_domid_t id;
	int give = -1, rc;

	if (name[0] && hv_domain_by_name(hv, name))
		return -EADDRINUSE;
	rc = alloc_domid(hv, &id);
	if (rc)
		return rc;
	if (!hv_fds_left(hv, c->admin, c->uid, 1))
		return -EMFILE;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	rc = make_cap(&d->cap_fd, &give, &d->cap_ino);
	if (rc) {
		free(d);
		return rc;
	}
	d->domid = id;
	strcpy(d->name, name);
	d->pid = c->pid;
	d->uid = c->uid;
	d->admin = c->admin;
	d->netns = c->netns;
	hv_fds_charge(hv, d->uid, 1);
	d->nconns = 1;
	d->next_port = V4V_PORT_EPHEMERAL_MIN;
	hv->domains[id] = d;
	hv->ndomains++;
	c->dom = d;
	hv_log(HV_LOG_INFO, "domain %u%s%s created (pid %d uid %u)", id,
	       name[0] ? " " : "", name, (int)c->pid, (unsigned)c->uid);
	return give;
}

int hv_domain_join(struct hv *hv, struct hv_conn *c, int cap)
{
	struct stat st;

	if (fstat(cap, &st) || !S_ISSOCK(st.st_mode))
		return -EBADF;
	for (unsigned i = 1; i <= V4V_DOMID_MAX; i++) {
		struct hv_domain *d = hv->domains[i];

		if (d && d->cap_ino == st.st_ino) {
			d->nconns++;
			c->dom = d;
			hv_log(HV_LOG_DEBUG, "pid %d joined domain %u",
			       (int)c->pid, d->domid);
			return 0;
		}
	}
	return -EPERM;
}

void hv_domain_put(struct hv *hv, struct hv_domain *d)
{
	if (d->nconns || d->nrings)
		return;
	hv_log(HV_LOG_INFO, "domain %u%s%s gone (sent %llu msgs, received %llu)",
	       d->domid, d->name[0] ? " " : "", d->name,
	       (unsigned long long)d->c.tx_msgs,
	       (unsigned long long)d->c.rx_msgs);
	hv->domains[d->domid] = NULL;
	hv->ndomains--;
	close(d->cap_fd);
	hv_fds_charge(hv, d->uid, -1);
	free(d);
}
