/* What a world writes: the output folders, the events file, which nodes
 * get pcaps (within the open-file limit) and their underlay captures,
 * notes, control's state kept with --keep-state, and outputs that could
 * not be written completely. */
#define _GNU_SOURCE /* outfile.h: fopencookie */
#include "sim/world_int.h"

#include "lib/base/errfmt.h"
#include "lib/base/outfile.h"
#include "lib/io/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int world_mkdirs(const char *path)
{
	char buf[WORLD_PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = c;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int world_pcap_check(const char *value)
{
	return value && value[0] ? 0 : -EINVAL;
}

/* Removes the pcaps a previous run left in `dir`, so the folder holds
 * exactly this run's selection. */
static void world_clean_pcaps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[WORLD_PATH_MAX + 300];

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n <= 5 || strcmp(e->d_name + n - 5, ".pcap") ||
		    (!strstr(e->d_name, "-underlay") && !strstr(e->d_name, "-tailnet")))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
			unlink(path);
	}
	closedir(d);
}

void world_note(struct world *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->notes)
		return;
	va_start(ap, fmt);
	vfprintf(w->notes, fmt, ap);
	va_end(ap);
}

/* Is control's capture wanted? With "all", or a glob naming "control". */
static bool world_pcap_selects(const char *sel, const char *name)
{
	return !strcmp(sel, "all") || (strcmp(sel, "none") != 0 && fnmatch(sel, name, 0) == 0);
}

/* Which nodes get pcaps; refuses a selection that would run out of file
 * descriptors (each capture is one open file). */
int world_select_pcaps(struct world *w, const struct world_options *opt, char *why, size_t why_len)
{
	const char *sel = opt->pcap;
	uint32_t selected = 0;
	struct rlimit rl;

	if (!sel) {
		if (w->node_count > WORLD_PCAP_DEFAULT_MAX_NODES) {
			world_note(
			    w,
			    "note: %u nodes: no pcaps by default above %d nodes (each pcap is "
			    "one open file); use --pcap all or --pcap 'GLOB'\n",
			    w->node_count, WORLD_PCAP_DEFAULT_MAX_NODES);
			sel = "none";
		} else {
			sel = "all";
		}
	}
	w->pcap_count = 0;
	for (uint32_t i = 0; i < w->node_count; i++) {
		bool on = world_pcap_selects(sel, w->nodes[i].name);
		w->nodes[i].pcap = on;
		selected += on;
		w->pcap_count += on ? (w->tc ? 2 : 1) : 0;
	}
	if (w->tc && world_pcap_selects(sel, "control"))
		w->pcap_count++;
	if (opt->pcap && strcmp(sel, "all") && strcmp(sel, "none") && selected == 0)
		world_note(w, "note: --pcap '%s' matches no node; no pcaps written\n", sel);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (uint64_t)w->pcap_count + WORLD_FD_RESERVE > rl.rlim_cur) {
		err_setf(why, why_len, 0,
		         "%u pcaps need %u open files but the limit is %llu; select fewer with "
		         "--pcap 'GLOB' or --pcap none",
		         w->pcap_count, w->pcap_count + WORLD_FD_RESERVE,
		         (unsigned long long)rl.rlim_cur);
		return -EMFILE;
	}
	return 0;
}

/* Output folders and the events file; pcap paths per node. */
int world_open_outputs(struct world *w, const struct world_options *opt, char *why, size_t why_len)
{
	const char *out = opt->out_dir ? opt->out_dir : ".";
	int err;

	if ((size_t)snprintf(w->report_dir, sizeof(w->report_dir), "%s/reports/%s", out,
	                     w->sc->name) >= sizeof(w->report_dir) - 64 ||
	    (size_t)snprintf(w->pcap_dir, sizeof(w->pcap_dir), "%s/pcaps/%s", out, w->sc->name) >=
	        sizeof(w->pcap_dir) - SCENARIO_NAME_MAX - 64) {
		err_setf(why, why_len, 0, "output path under '%s' is too long", out);
		return -ENAMETOOLONG;
	}
	if ((size_t)snprintf(w->events_path, sizeof(w->events_path), "%s/events.jsonl",
	                     w->report_dir) >= sizeof(w->events_path) ||
	    (size_t)snprintf(w->state_path, sizeof(w->state_path), "%s/control-state.json",
	                     w->report_dir) >= sizeof(w->state_path))
		return -ENAMETOOLONG;
	err = world_mkdirs(w->report_dir);
	if (err) {
		err_setf(why, why_len, 0, "cannot create '%s': %s", w->report_dir, strerror(-err));
		return err;
	}
	w->events_out = calloc(1, sizeof(*w->events_out));
	if (!w->events_out)
		return -ENOMEM;
	w->events = outfile_open(w->events_out, w->events_path, false);
	if (!w->events) {
		err = -errno;
		err_setf(why, why_len, 0, "cannot write '%s': %s", w->events_path, strerror(-err));
		return err;
	}
	setvbuf(w->events, NULL, _IOFBF, WORLD_EVENTS_BUFFER);
	if (w->pcap_count == 0) {
		world_clean_pcaps(w->pcap_dir);
		return 0;
	}
	err = world_mkdirs(w->pcap_dir);
	if (err) {
		err_setf(why, why_len, 0, "cannot create '%s': %s", w->pcap_dir, strerror(-err));
		return err;
	}
	world_clean_pcaps(w->pcap_dir);
	if (!w->tc)
		return 0;
	for (uint32_t i = 0; i < w->node_count; i++) {
		if (!w->nodes[i].pcap)
			continue;
		size_t len = strlen(w->pcap_dir) + strlen(w->nodes[i].name) + 32;
		w->nodes[i].tailnet_pcap = malloc(len);
		if (!w->nodes[i].tailnet_pcap)
			return -ENOMEM;
		snprintf(w->nodes[i].tailnet_pcap, len, "%s/%s-tailnet.pcap", w->pcap_dir,
		         w->nodes[i].name);
	}
	return 0;
}

/* Underlay captures: after the topology is final, before time runs. */
int world_underlay_pcaps(struct world *w, const struct world_options *opt, char *why,
                         size_t why_len)
{
	char path[WORLD_PATH_MAX + SCENARIO_NAME_MAX + 32];
	int err;

	for (uint32_t i = 0; i < w->node_count; i++) {
		if (!w->nodes[i].pcap)
			continue;
		snprintf(path, sizeof(path), "%s/%s-underlay.pcap", w->pcap_dir, w->nodes[i].name);
		err = ns3w_pcap_underlay(w->ns3, w->nodes[i].ns3_node, path);
		if (err < 0) {
			err_setf(why, why_len, 0, "cannot write pcap '%s': %s", path,
			         strerror(-err));
			return err;
		}
	}
	const char *sel = opt->pcap                                      ? opt->pcap
	                  : w->node_count > WORLD_PCAP_DEFAULT_MAX_NODES ? "none"
	                                                                 : "all";
	if (w->tn && world_pcap_selects(sel, "control")) {
		snprintf(path, sizeof(path), "%s/control-underlay.pcap", w->pcap_dir);
		err = ns3w_pcap_underlay(w->ns3, w->tn->control_ns3_node, path);
		if (err < 0) {
			err_setf(why, why_len, 0, "cannot write pcap '%s': %s", path,
			         strerror(-err));
			return err;
		}
	}
	return 0;
}

/* --keep-state: control's stored state (what a restart would load) as a
 * file, 0600 like controld's. 0 or -errno with a note. */
int world_keep_state(struct world *w)
{
	struct storage *mem = w->tn->control_storage, *file = NULL;
	char err[STORAGE_ERR_LEN] = "";
	char *text = NULL;
	size_t len = 0;
	int rc = mem->ops->read(mem, TN_CONTROL_STATE, SIZE_MAX, &text, &len, err, sizeof(err));

	if (rc == 0)
		rc = storage_file_new(&file);
	if (rc == 0)
		rc = file->ops->write(file, w->state_path, text, len, err, sizeof(err));
	if (rc < 0)
		world_note(w, "warning: control's state not kept: %s\n",
		           err[0] ? err : strerror(-rc));
	storage_file_free(file);
	free(text);
	return rc;
}

void world_output_failed(struct world *w, const char *path, int err)
{
	if (w->output_failed)
		w->output_failed(w->output_ctx, path,
		                 err ? strerror(-err) : "an earlier write failed (errno not kept)");
}

void world_pcap_failed(void *ctx, const char *path, int err)
{
	world_output_failed(ctx, path, err);
}
