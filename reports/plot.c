/* The gnuplot plots: data files and one script (plots.gp) written into the
 * report folder with relative names only (so the same events give the
 * same bytes wherever the folder is), then `gnuplot plots.gp` run there.
 * Each plot is written as PNG (pngcairo) and SVG. */
#include "reports/report_int.h"

#include "lib/base/errfmt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RP_CDF_POINTS  200
#define RP_PLOT_SIZE   "1000,560"
#define RP_SHADE_COLOR "#f4c7c3"
#define RP_MARK_COLOR  "#777777"

/* Fault windows from the timeline marks. */
int rp_fault_windows(const struct rp_data *d, struct rp_window **out)
{
	struct rp_window *w = NULL;
	size_t n = 0;

	*out = NULL;
	if (!d->n_marks)
		return 0;
	w = calloc(d->n_marks, sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_marks; i++) {
		const struct rp_mark *m = &d->marks[i];
		const char *act = rp_name(d, m->action), *det = rp_name(d, m->detail);
		bool open = false, close = false;
		uint32_t label = m->target;
		if (!strcmp(act, "crash") || !strcmp(act, "partition"))
			open = true;
		else if (!strcmp(act, "restart") || !strcmp(act, "heal"))
			close = true;
		else if (!strcmp(act, "control") && (strstr(det, "crash") || strstr(det, "stop")))
			open = true;
		else if (!strcmp(act, "control") &&
		         (strstr(det, "restart") || strstr(det, "start")))
			close = true;
		const char *kind = !strcmp(act, "restart") ? "crash"
		                   : !strcmp(act, "heal")  ? "partition"
		                                           : act;
		if (open) {
			w[n].from_us = m->t_us;
			w[n].to_us = UINT64_MAX;
			w[n].label = label;
			w[n].action = m->action;
			n++;
			continue;
		}
		if (!close)
			continue;
		/* the oldest open window of the same kind and target, else of
		 * the same kind */
		size_t best = n;
		for (size_t j = 0; j < n; j++) {
			if (w[j].to_us != UINT64_MAX || strcmp(rp_name(d, w[j].action), kind))
				continue;
			if (w[j].label == label) {
				best = j;
				break;
			}
			if (best == n)
				best = j;
		}
		if (best < n)
			w[best].to_us = m->t_us;
	}
	for (size_t j = 0; j < n; j++)
		if (w[j].to_us == UINT64_MAX)
			w[j].to_us = d->end_us > w[j].from_us ? d->end_us : w[j].from_us;
	*out = w;
	return (int)n;
}

/* A gnuplot double-quoted string. */
static void rp_gp_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

static void rp_gp_sec(FILE *f, uint64_t t_us)
{
	char b[64];

	rp_format_trim((double)t_us / 1e6, 6, b, sizeof(b));
	fputs(b, f);
}

static void rp_gp_ms(FILE *f, uint32_t us)
{
	char b[64];

	rp_format_trim((double)us / 1e3, 3, b, sizeof(b));
	fputs(b, f);
}

struct rp_gkey {
	uint32_t a, b, lat;
};

static int rp_gkey_cmp(const void *pa, const void *pb)
{
	const struct rp_gkey *x = pa, *y = pb;

	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	if (x->b != y->b)
		return x->b < y->b ? -1 : 1;
	return x->lat < y->lat ? -1 : x->lat > y->lat;
}

/* Ok requests as (workload, b, latency), sorted; b is the client's region
 * (by_second false) or the start second. */
static struct rp_gkey *rp_keys(const struct rp_data *d, bool by_second, size_t *n)
{
	struct rp_gkey *k = malloc((d->n_req ? d->n_req : 1) * sizeof(*k));
	size_t m = 0;

	if (!k)
		return NULL;
	for (size_t i = 0; i < d->n_req; i++) {
		const struct rp_req *q = &d->req[i];
		if (rp_req_outcome(q) != RP_OK)
			continue;
		uint64_t sec = q->start_us / 1000000;
		k[m].a = q->workload;
		k[m].b = by_second ? (uint32_t)(sec > UINT32_MAX ? UINT32_MAX : sec)
		                   : d->names.region[q->client];
		k[m].lat = q->latency_us;
		m++;
	}
	qsort(k, m, sizeof(*k), rp_gkey_cmp);
	*n = m;
	return k;
}

static void rp_gp_terminal(FILE *f, bool svg, const char *file)
{
	if (svg)
		fprintf(f, "set terminal svg size %s fixed noenhanced font \"sans,11\"\n",
		        RP_PLOT_SIZE);
	else
		fprintf(f, "set terminal pngcairo size %s noenhanced font \"sans,10\"\n",
		        RP_PLOT_SIZE);
	fprintf(f, "set output \"%s\"\n", file);
}

/* Writes the latency CDF data (one block per workload and region) and its
 * plot command into the script. */
static int rp_plot_cdf(const struct rp_data *d, FILE *gp, const char *dir, struct rp_outputs *outs)
{
	size_t n, groups = 0;
	struct rp_gkey titles[REPORT_PLOT_MAX_SERIES];
	struct rp_gkey *k = rp_keys(d, false, &n);
	struct rp_out *out;
	FILE *f;

	if (!k)
		return -ENOMEM;
	f = rp_out_open(outs, dir, "latency_cdf.dat", &out);
	if (!f) {
		free(k);
		return 0; /* reported: the plot will not be drawn */
	}
	fprintf(gp, "\n# latency CDF per workload and client region\n"
	            "reset\nset title \"Latency CDF per workload and client region\"\n"
	            "set xlabel \"latency (ms)\"\nset ylabel \"fraction of ok requests\"\n"
	            "set yrange [0:1]\nset grid\nset key bottom right\n");
	for (size_t i = 0; i < n && groups < REPORT_PLOT_MAX_SERIES;) {
		size_t j = i;
		while (j < n && k[j].a == k[i].a && k[j].b == k[i].b)
			j++;
		size_t cnt = j - i, pts = cnt < RP_CDF_POINTS ? cnt : RP_CDF_POINTS;
		fprintf(f, "# %s %s\n", rp_name(d, d->wl[k[i].a].name),
		        k[i].b == RP_NONE ? "unknown" : rp_name(d, k[i].b));
		rp_gp_ms(f, k[i].lat);
		fputs(" 0\n", f);
		for (size_t p = 1; p <= pts; p++) {
			size_t idx = (p * cnt + pts - 1) / pts - 1;
			rp_gp_ms(f, k[i + idx].lat);
			fprintf(f, " %.6f\n", (double)p / (double)pts);
		}
		fputs("\n\n", f);
		titles[groups++] = k[i];
		i = j;
	}
	free(k);
	rp_out_close(outs, out);
	/* the plot command proper: one clause per block */
	fputs("plot ", gp);
	if (!groups)
		fputs("[0:1] NaN notitle", gp);
	for (size_t g = 0; g < groups; g++) {
		char title[512];
		rp_fmt(title, sizeof(title), "%s %s", rp_name(d, d->wl[titles[g].a].name),
		       titles[g].b == RP_NONE ? "unknown" : rp_name(d, titles[g].b));
		fprintf(gp, "%s\"latency_cdf.dat\" index %zu using 1:2 with steps lw 2 title ",
		        g ? ", \\\n     " : "", g);
		rp_gp_str(gp, title);
	}
	fputs("\n", gp);
	return 0;
}

/* Vertical lines and labels at the timeline events; shaded fault windows. */
static void rp_gp_marks(const struct rp_data *d, FILE *gp, const struct rp_window *w, size_t nw,
                        bool shade)
{
	int obj = 1;

	if (shade) {
		for (size_t i = 0; i < nw; i++) {
			fprintf(gp, "set object %d rect from ", obj++);
			rp_gp_sec(gp, w[i].from_us);
			fputs(", graph 0 to ", gp);
			rp_gp_sec(gp, w[i].to_us > w[i].from_us ? w[i].to_us : w[i].from_us + 1);
			fprintf(
			    gp,
			    ", graph 1 behind fc rgb \"%s\" fs solid 0.5 noborder # fault: %s %s\n",
			    RP_SHADE_COLOR, rp_name(d, w[i].action), rp_name(d, w[i].label));
		}
	}
	/* marks at the same time share one line and one label */
	for (size_t i = 0, drawn = 0; i < d->n_marks && drawn < REPORT_PLOT_MAX_MARKS; drawn++) {
		uint64_t t = d->marks[i].t_us;
		char label[512] = "";
		for (; i < d->n_marks && d->marks[i].t_us == t; i++) {
			size_t len = strlen(label);
			rp_fmt(label + len, sizeof(label) - len, "%s%s %s", len ? "; " : "",
			       rp_name(d, d->marks[i].action), rp_name(d, d->marks[i].target));
		}
		fputs("set arrow from ", gp);
		rp_gp_sec(gp, t);
		fputs(", graph 0 to ", gp);
		rp_gp_sec(gp, t);
		fprintf(gp, ", graph 1 nohead lc rgb \"%s\" dt 2\n", RP_MARK_COLOR);
		fputs("set label ", gp);
		rp_gp_str(gp, label);
		fputs(" at ", gp);
		rp_gp_sec(gp, t);
		fprintf(
		    gp,
		    ", graph 0.98 rotate by 90 right front offset 1,0 font \",8\" tc rgb \"%s\"\n",
		    RP_MARK_COLOR);
	}
}

static size_t rp_seconds(const struct rp_data *d)
{
	uint64_t s = d->end_us / 1000000 + 1;

	return s > REPORT_MAX_SERIES_S ? REPORT_MAX_SERIES_S : (size_t)s;
}

struct rp_rank {
	size_t host;
	uint64_t requests;
};

static int rp_rank_cmp(const void *pa, const void *pb)
{
	const struct rp_rank *a = pa, *b = pb;

	if (a->requests != b->requests)
		return a->requests > b->requests ? -1 : 1;
	return a->host < b->host ? -1 : a->host > b->host;
}

/* Requests per host per second (by start time): the busiest hosts, the
 * rest summed as "other". */
static int rp_plot_requests(const struct rp_data *d, FILE *gp, const char *dir,
                            const struct rp_window *w, size_t nw, struct rp_outputs *outs)
{
	size_t secs = rp_seconds(d), shown = 0, cols;
	struct rp_rank *rank = calloc(d->n_hosts ? d->n_hosts : 1, sizeof(*rank));
	uint32_t *col_of = calloc(d->n_hosts ? d->n_hosts : 1, sizeof(*col_of));
	uint32_t *m = NULL;
	struct rp_out *out = NULL;
	FILE *f = NULL;
	int rc = 0;

	if (!rank || !col_of) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < d->n_hosts; i++)
		rank[i] = (struct rp_rank){i, d->hosts[i].requests};
	qsort(rank, d->n_hosts, sizeof(*rank), rp_rank_cmp);
	for (size_t i = 0; i < d->n_hosts && rank[i].requests; i++)
		shown++;
	cols = shown;
	if (shown > REPORT_PLOT_MAX_SERIES) {
		shown = REPORT_PLOT_MAX_SERIES - 1;
		cols = REPORT_PLOT_MAX_SERIES;
	}
	for (size_t i = 0; i < d->n_hosts; i++)
		col_of[rank[i].host] = (uint32_t)(i < shown ? i : cols - 1);
	m = calloc(secs * (cols ? cols : 1), sizeof(*m));
	if (!m) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < d->n_req && cols; i++) {
		const struct rp_req *q = &d->req[i];
		uint64_t s = q->start_us / 1000000;
		uint32_t h = d->host_of[q->host];
		if (!h || s >= secs)
			continue;
		m[s * cols + col_of[h - 1]]++;
	}
	f = rp_out_open(outs, dir, "requests_per_host.dat", &out);
	if (!f)
		goto out; /* reported: the plot will not be drawn */
	fputs("# t_s", f);
	for (size_t c = 0; c < cols; c++)
		fprintf(f, " %s", c < shown ? rp_name(d, d->hosts[rank[c].host].name) : "other");
	fputc('\n', f);
	for (size_t s = 0; s < secs && cols; s++) {
		fprintf(f, "%zu", s);
		for (size_t c = 0; c < cols; c++)
			fprintf(f, " %" PRIu32, m[s * cols + c]);
		fputc('\n', f);
	}
	rp_out_close(outs, out);
	out = NULL;
	fprintf(gp,
	        "\n# requests per host per second, timeline events marked\n"
	        "reset\nset title \"Requests per host per second (by start time)\"\n"
	        "set xlabel \"simulated time (s)\"\nset ylabel \"requests / s\"\n"
	        "set grid\nset key outside right top\nset xrange [0:%zu]\n",
	        secs);
	rp_gp_marks(d, gp, w, nw, true);
	fputs("plot ", gp);
	if (!cols)
		fputs("[0:1][0:1] NaN notitle", gp);
	for (size_t c = 0; c < cols; c++) {
		fprintf(gp, "%s\"requests_per_host.dat\" using 1:%zu with steps lw 2 title ",
		        c ? ", \\\n     " : "", c + 2);
		rp_gp_str(gp, c < shown ? rp_name(d, d->hosts[rank[c].host].name) : "other");
	}
	fputc('\n', gp);
out:
	if (out)
		rp_out_close(outs, out);
	free(m);
	free(rank);
	free(col_of);
	return rc;
}

/* Per workload, p50 and p99 of the ok requests started in each second. */
static int rp_plot_latency_time(const struct rp_data *d, FILE *gp, const char *dir,
                                const struct rp_window *w, size_t nw, struct rp_outputs *outs)
{
	size_t n, blocks = 0, max_blocks = REPORT_PLOT_MAX_SERIES / 2;
	struct rp_gkey *k = rp_keys(d, true, &n);
	uint32_t blk_wl[REPORT_PLOT_MAX_SERIES / 2];
	struct rp_out *out;
	FILE *f;

	if (!k)
		return -ENOMEM;
	f = rp_out_open(outs, dir, "latency_over_time.dat", &out);
	if (!f) {
		free(k);
		return 0; /* reported: the plot will not be drawn */
	}
	for (size_t i = 0; i < n;) {
		uint32_t wl = k[i].a;
		size_t end = i;
		while (end < n && k[end].a == wl)
			end++;
		if (blocks < max_blocks) {
			fprintf(f, "# %s: t_s p50_ms p99_ms\n", rp_name(d, d->wl[wl].name));
			for (size_t j = i; j < end;) {
				size_t e = j;
				uint32_t v[2];
				while (e < end && k[e].b == k[j].b)
					e++;
				/* the group is sorted by latency: nearest rank in place */
				size_t cnt = e - j;
				size_t r50 = (cnt * 50 + 99) / 100, r99 = (cnt * 99 + 99) / 100;
				v[0] = k[j + (r50 ? r50 - 1 : 0)].lat;
				v[1] = k[j + (r99 ? r99 - 1 : 0)].lat;
				fprintf(f, "%" PRIu32 ".5 ", k[j].b);
				rp_gp_ms(f, v[0]);
				fputc(' ', f);
				rp_gp_ms(f, v[1]);
				fputc('\n', f);
				j = e;
			}
			fputs("\n\n", f);
			blk_wl[blocks++] = wl;
		}
		i = end;
	}
	free(k);
	rp_out_close(outs, out);
	fprintf(gp,
	        "\n# latency over time, fault windows shaded\n"
	        "reset\nset title \"Latency over time (per second p50 and p99 of ok requests)\"\n"
	        "set xlabel \"simulated time (s)\"\nset ylabel \"latency (ms)\"\n"
	        "set grid\nset key outside right top\nset xrange [0:%zu]\n",
	        rp_seconds(d));
	rp_gp_marks(d, gp, w, nw, true);
	fputs("plot ", gp);
	if (!blocks)
		fputs("[0:1][0:1] NaN notitle", gp);
	for (size_t b = 0; b < blocks; b++) {
		char t50[256], t99[256];
		rp_fmt(t50, sizeof(t50), "%s p50", rp_name(d, d->wl[blk_wl[b]].name));
		rp_fmt(t99, sizeof(t99), "%s p99", rp_name(d, d->wl[blk_wl[b]].name));
		fprintf(
		    gp,
		    "%s\"latency_over_time.dat\" index %zu using 1:2 with linespoints pt 7 ps 0.4 "
		    "lc %zu title ",
		    b ? ", \\\n     " : "", b, b + 1);
		rp_gp_str(gp, t50);
		fprintf(gp,
		        ", \\\n     \"latency_over_time.dat\" index %zu using 1:3 with linespoints "
		        "pt 7 "
		        "ps 0.4 lc %zu dt 2 title ",
		        b, b + 1);
		rp_gp_str(gp, t99);
	}
	fputc('\n', gp);
	return 0;
}

int rp_find_gnuplot(const char *given, char *out, size_t cap)
{
	const char *path = getenv("PATH");

	if (given) {
		rp_fmt(out, cap, "%s", given);
		return access(out, X_OK) == 0 ? 0 : -ENOENT;
	}
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");
		rp_fmt(out, cap, "%.*s/gnuplot", (int)len, len ? path : ".");
		if (access(out, X_OK) == 0)
			return 0;
		path += len;
		if (*path == ':')
			path++;
	}
	return -ENOENT;
}

int rp_run_gnuplot(const char *bin, const char *dir, const char *script, char *err, size_t err_len)
{
	char log[4096], msg[512] = "";
	int status;
	pid_t pid;

	rp_fmt(log, sizeof(log), "%s/gnuplot.log", dir);
	pid = fork();
	if (pid < 0)
		return err_setf(err, err_len, -errno, "fork for gnuplot: %s", strerror(errno));
	if (pid == 0) {
		int fd;
		if (chdir(dir) != 0)
			_exit(126);
		fd = open("gnuplot.log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		execl(bin, bin, script, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_setf(err, err_len, -errno, "waiting for gnuplot: %s",
			                strerror(errno));
	FILE *f = fopen(log, "r");
	size_t got = 0;
	if (f) {
		got = fread(msg, 1, sizeof(msg) - 1, f);
		msg[got] = '\0';
		fclose(f);
	}
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_setf(err, err_len, -EIO, "gnuplot (%s) failed in %s: %s", bin, dir,
		                got ? msg : "no output");
	if (!got)
		unlink(log);
	return 0;
}

static const char *const rp_plot_names[] = {"latency_cdf", "requests_per_host",
                                            "latency_over_time"};

bool rp_image_inline(const char *path, FILE *out)
{
	FILE *f = fopen(path, "rb");
	char buf[8192];
	size_t n;

	if (!f)
		return false;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, out);
	bool ok = !ferror(f);
	fclose(f);
	return ok;
}

bool rp_image_complete(const char *path, bool svg)
{
	static const unsigned char iend[12] = {0,   0,   0,    0,    'I',  'E',
	                                       'N', 'D', 0xae, 0x42, 0x60, 0x82};
	unsigned char tail[64];
	FILE *f = fopen(path, "rb");
	long size;
	size_t n;

	if (!f)
		return false;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 12 ||
	    fseek(f, size > (long)sizeof(tail) ? size - (long)sizeof(tail) : 0, SEEK_SET) != 0) {
		fclose(f);
		return false;
	}
	n = fread(tail, 1, sizeof(tail), f);
	fclose(f);
	if (!svg)
		return n >= sizeof(iend) &&
		       memcmp(tail + n - sizeof(iend), iend, sizeof(iend)) == 0;
	while (n && (tail[n - 1] == '\n' || tail[n - 1] == ' ' || tail[n - 1] == '\r'))
		n--;
	return n >= 6 && memcmp(tail + n - 6, "</svg>", 6) == 0;
}

/* After gnuplot (`drawn`) or instead of it: every image is whole, or named
 * as incomplete; images that were not drawn are removed (a previous run's
 * would look current). */
static void rp_check_images(struct rp_outputs *outs, const char *dir, bool drawn)
{
	for (int p = 0; p < 3; p++)
		for (int svg = 0; svg < 2; svg++) {
			char path[4096];
			rp_fmt(path, sizeof(path), "%s/%s.%s", dir, rp_plot_names[p],
			       svg ? "svg" : "png");
			if (!drawn) {
				unlink(path);
				rp_output_failed(outs, path,
				                 "not drawn: its data could not be written");
			} else if (!rp_image_complete(path, svg)) {
				rp_output_failed(outs, path, "gnuplot could not write it whole");
			}
		}
}

int rp_plot(const struct rp_data *d, const struct report_input *in, struct rp_outputs *outs,
            char *err, size_t err_len)
{
	char bin[4096];
	struct rp_window *w = NULL;
	struct rp_out *gp_out = NULL;
	size_t failed_before = outs->failed;
	bool drawn = false;
	FILE *gp = NULL;
	int nw, rc = 0;

	if (rp_find_gnuplot(in->gnuplot, bin, sizeof(bin)))
		return err_setf(err, err_len, -ENOENT,
		                "gnuplot not found (%s): install gnuplot-nox or run without plots",
		                in->gnuplot ? in->gnuplot : "not on PATH");
	nw = rp_fault_windows(d, &w);
	if (nw < 0)
		return err_setf(err, err_len, nw, "out of memory");
	/* one script per plot body, replayed for each terminal */
	gp = rp_out_open(outs, in->out_dir, "plots.gp", &gp_out);
	if (!gp)
		goto out; /* reported */
	fprintf(gp, "# Made by the report writer from events.jsonl; run: gnuplot plots.gp\n");
	for (int p = 0; p < 3; p++) {
		char png[64], svg[64];
		rp_fmt(png, sizeof(png), "%s.png", rp_plot_names[p]);
		rp_fmt(svg, sizeof(svg), "%s.svg", rp_plot_names[p]);
		rp_gp_terminal(gp, false, png);
		if (p == 0)
			rc = rp_plot_cdf(d, gp, in->out_dir, outs);
		else if (p == 1)
			rc = rp_plot_requests(d, gp, in->out_dir, w, (size_t)nw, outs);
		else
			rc = rp_plot_latency_time(d, gp, in->out_dir, w, (size_t)nw, outs);
		if (rc) {
			err_setf(err, err_len, rc, "plot %s: %s", rp_plot_names[p], strerror(-rc));
			goto out;
		}
		/* the same plot again to the second terminal */
		rp_gp_terminal(gp, true, svg);
		fputs("replot\nset output\n", gp);
	}
	rp_out_close(outs, gp_out);
	gp_out = NULL;
	if (outs->failed == failed_before) {
		drawn = true;
		rc = rp_run_gnuplot(bin, in->out_dir, "plots.gp", err, err_len);
		if (!rc)
			rp_check_images(outs, in->out_dir, true);
	}
out:
	if (gp_out)
		rp_out_close(outs, gp_out);
	if (!rc && !drawn && outs->failed != failed_before)
		rp_check_images(outs, in->out_dir, false);
	free(w);
	return rc;
}
