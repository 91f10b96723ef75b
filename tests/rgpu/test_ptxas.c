/* SPDX-License-Identifier: MIT */
/*
 * The shipped PTX kernels assemble with NVIDIA's ptxas for sm_80 and
 * sm_90, with no error and no warning.  ptxas is optional: without it
 * ($RGPU_PTXAS, /usr/local/cuda/bin/ptxas, or ptxas on PATH) the test
 * skips (exit 77).  A broken module must fail, or the test proves nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rgpu/kernels.h"

static const char *find_ptxas(void)
{
	static char buf[4096];
	const char *env = getenv("RGPU_PTXAS"), *path = getenv("PATH");

	if (env && *env)
		return access(env, X_OK) == 0 ? env : NULL;
	if (access("/usr/local/cuda/bin/ptxas", X_OK) == 0)
		return "/usr/local/cuda/bin/ptxas";
	while (path && *path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/ptxas", (int)n, path);
		if (access(buf, X_OK) == 0)
			return buf;
		path += n + (path[n] == ':');
	}
	return NULL;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Run ptxas; its exit status, and whether it printed anything (a
 * warning counts as a failure: the kernels must be clean). */
static int assemble(const char *ptxas, const char *arch, const char *file,
		    const char *out, int *noisy)
{
	char log[] = "/tmp/rgpu-ptxas-log.XXXXXX";
	int fd = mkstemp(log), st = -1;
	pid_t pid;

	if (fd < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execl(ptxas, ptxas, "-arch", arch, "-o", out, file, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	*noisy = lseek(fd, 0, SEEK_END) > 0;
	if (*noisy) {
		char buf[2048];
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		buf[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "ptxas %s says:\n%s\n", arch, buf);
	}
	close(fd);
	unlink(log);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void)
{
	static const char *const archs[] = { "sm_80", "sm_90" };
	const char *ptxas = find_ptxas();
	char dir[] = "/tmp/rgpu-ptxas.XXXXXX", src[64], bad[64], out[64];
	int fails = 0, noisy;

	if (!ptxas) {
		printf("ptxas not found (set RGPU_PTXAS or install the CUDA "
		       "toolkit): skipping\n");
		return 77;
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(src, sizeof(src), "%s/kernels.ptx", dir);
	snprintf(bad, sizeof(bad), "%s/bad.ptx", dir);
	snprintf(out, sizeof(out), "%s/out.cubin", dir);
	if (write_file(src, rgpu_kernels_ptx) ||
	    write_file(bad, ".version 7.0\n.target sm_80\n.address_size 64\n"
			    ".visible .entry k() { mov.u32 %r1, 0; ret; }\n"))
		return 1;
	for (int i = 0; i < 2; i++) {
		int rc = assemble(ptxas, archs[i], src, out, &noisy);

		printf("%s %s: ptxas exit %d%s\n", rc || noisy ? "FAIL" : "ok  ",
		       archs[i], rc, noisy ? ", with output" : "");
		fails += rc != 0 || noisy;
	}
	/* An undeclared register: ptxas must say no. */
	if (assemble(ptxas, "sm_80", bad, out, &noisy) == 0) {
		printf("FAIL a broken module assembled\n");
		fails++;
	} else {
		printf("ok   a broken module is refused\n");
	}
	unlink(src);
	unlink(bad);
	unlink(out);
	rmdir(dir);
	return fails ? 1 : 0;
}
