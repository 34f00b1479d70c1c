/*
 * lmdb-raw-bench: the "raw ceiling" baseline for Playhead's event log
 * benchmarks.
 *
 * It does the least work LMDB allows for the two workloads that Playhead's
 * `playhead bench` measures, so that Playhead's figures can be expressed as a
 * fraction of what the storage engine alone achieves on the same machine:
 *
 *   append  N values of S bytes under 8-byte big-endian keys 1..N, appended
 *           with MDB_APPEND through one cursor per write transaction, B values
 *           per transaction, every transaction committed durably (default
 *           environment flags, so each commit fsyncs).
 *
 *   scan    read every entry with one read transaction and one cursor
 *           (MDB_FIRST, then MDB_NEXT), touching only the key and value
 *           lengths; one untimed warm-up pass, then P timed passes, median
 *           reported.
 *
 * Each run prints exactly one line of JSON on stdout; see the emit_* functions
 * for the keys. Diagnostics go to stderr. Exit status: 0 success, 1 LMDB or
 * system error, 2 usage error.
 *
 * Build:  cc -O2 -std=c11 -Wall -Wextra -Werror tools/lmdb-raw-bench.c -llmdb
 */

#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define IMPLEMENTATION "liblmdb-raw"
#define DB_NAME "events"
#define KEY_BYTES 8

/* Largest value size accepted; keeps the map size arithmetic far from overflow. */
#define MAX_EVENT_BYTES (64u * 1024u * 1024u)
/* Largest event count accepted (2^40); same reason. */
#define MAX_EVENTS (UINT64_C(1) << 40)

/* Extra bytes in the pre-generated content buffer. Event i's value is the
 * S-byte window starting at offset (i * VALUE_STRIDE) % CONTENT_SLACK, so
 * consecutive values differ without generating anything during the run. */
#define CONTENT_SLACK 4096u
#define VALUE_STRIDE 61u

#define USAGE                                                                 \
    "usage: lmdb-raw-bench append --dir DIR --events N --batch B --size S\n" \
    "       lmdb-raw-bench scan --dir DIR [--passes P] [--touch]\n"

static const char *prog = "lmdb-raw-bench";

/* ------------------------------------------------------------------------- */
/* Error handling                                                            */

static void usage_error(const char *msg)
{
    if (msg != NULL)
        fprintf(stderr, "%s: %s\n", prog, msg);
    fputs(USAGE, stderr);
    exit(2);
}

/* Exit with status 1 if an LMDB call failed, naming the call and the error. */
static void check_mdb(int rc, const char *what)
{
    if (rc != MDB_SUCCESS) {
        fprintf(stderr, "%s: %s failed: %s (%d)\n", prog, what, mdb_strerror(rc), rc);
        exit(1);
    }
}

static void fail_errno(const char *what, const char *path)
{
    fprintf(stderr, "%s: %s %s: %s\n", prog, what, path, strerror(errno));
    exit(1);
}

/* ------------------------------------------------------------------------- */
/* Small helpers                                                             */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile (p in (0, 100]) of a sorted array of n > 0 values. */
static double percentile(const double *sorted, size_t n, double p)
{
    double rank = p / 100.0 * (double)n;
    size_t idx = (size_t)rank;
    if ((double)idx < rank)
        idx++; /* ceil */
    if (idx < 1)
        idx = 1;
    if (idx > n)
        idx = n;
    return sorted[idx - 1];
}

/* Median of a sorted array of n > 0 values (mean of the middle two if n is even). */
static double median(const double *sorted, size_t n)
{
    if (n % 2 == 1)
        return sorted[n / 2];
    return (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
}

/* Parse a positive decimal integer in [1, max]; usage error otherwise. */
static uint64_t parse_count(const char *flag, const char *text, uint64_t max)
{
    char *end = NULL;
    unsigned long long v = 0;
    bool ok = text[0] >= '0' && text[0] <= '9'; /* rejects "", "-1", " 1", "+1" */
    if (ok) {
        errno = 0;
        v = strtoull(text, &end, 10);
        ok = errno == 0 && *end == '\0' && v >= 1 && v <= max;
    }
    if (!ok) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s needs an integer in [1, %" PRIu64 "], got '%s'", flag, max,
                 text);
        usage_error(msg);
    }
    return (uint64_t)v;
}

/* Store v as 8 big-endian bytes, so that LMDB's default memcmp ordering
 * equals numeric ordering and MDB_APPEND accepts increasing positions. */
static void put_be64(unsigned char out[KEY_BYTES], uint64_t v)
{
    for (int i = KEY_BYTES - 1; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* Create dir if missing; if it exists it must be an empty directory. */
static void prepare_new_dir(const char *dir)
{
    if (mkdir(dir, 0755) == 0)
        return;
    if (errno != EEXIST)
        fail_errno("cannot create directory", dir);

    DIR *d = opendir(dir);
    if (d == NULL)
        fail_errno("cannot open directory", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            fprintf(stderr, "%s: directory %s is not empty (append needs a new store)\n", prog, dir);
            exit(1);
        }
    }
    closedir(d);
}

/* ------------------------------------------------------------------------- */
/* append                                                                    */

struct append_opts {
    const char *dir;
    uint64_t events;
    uint64_t batch;
    uint64_t size;
};

/*
 * Map size: generous upper bound on the file size, rounded up to 1 MiB.
 * A record costs its value, the 8-byte key and an 8-byte node header plus a
 * 2-byte slot pointer; values too big for a leaf go to overflow pages that
 * are whole pages. Three times that (page fill, branch pages, copy-on-write
 * of the tail while committing) plus 64 MiB leaves lots of room.
 */
static size_t append_map_size(const struct append_opts *o)
{
    const uint64_t page = 4096;
    uint64_t per_record = o->size + KEY_BYTES + 8 + 2;
    if (o->size > page / 4) /* may go to overflow pages: count whole pages */
        per_record = ((o->size + 16 + page - 1) / page) * page + 64;
    uint64_t bytes = o->events * per_record * 3 + (UINT64_C(64) << 20);
    bytes = (bytes + (UINT64_C(1) << 20) - 1) & ~((UINT64_C(1) << 20) - 1);
    if (bytes > (uint64_t)SIZE_MAX) {
        fprintf(stderr, "%s: map size %" PRIu64 " does not fit this platform\n", prog, bytes);
        exit(1);
    }
    return (size_t)bytes;
}

static void emit_append(const struct append_opts *o, double seconds, double p50_ms, double p99_ms)
{
    double value_bytes = (double)o->events * (double)o->size;
    printf("{\"workload\":\"append\",\"implementation\":\"" IMPLEMENTATION "\","
           "\"events\":%" PRIu64 ",\"event_bytes\":%" PRIu64 ",\"record_bytes\":%" PRIu64 ","
           "\"streams\":0,\"batch_size\":%" PRIu64 ",\"callers\":1,\"durable\":true,"
           "\"seconds\":%.6f,\"events_per_second\":%.0f,\"mb_per_second\":%.3f,"
           "\"batch_commit_p50_ms\":%.3f,\"batch_commit_p99_ms\":%.3f}\n",
           o->events, o->size, o->size, o->batch, seconds, (double)o->events / seconds,
           value_bytes / 1e6 / seconds, p50_ms, p99_ms);
}

static int cmd_append(const struct append_opts *o)
{
    prepare_new_dir(o->dir);

    /* Value content: pseudo-random bytes (xorshift64), generated once, before
     * the clock starts. Each event uses a different window of this buffer. */
    size_t content_len = (size_t)o->size + CONTENT_SLACK;
    unsigned char *content = malloc(content_len);
    if (content == NULL) {
        fprintf(stderr, "%s: out of memory (%zu bytes)\n", prog, content_len);
        return 1;
    }
    uint64_t x = UINT64_C(0x9E3779B97F4A7C15);
    for (size_t i = 0; i < content_len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        content[i] = (unsigned char)(x >> 56);
    }

    uint64_t batches = (o->events + o->batch - 1) / o->batch;
    double *batch_ms = malloc((size_t)batches * sizeof *batch_ms);
    if (batch_ms == NULL) {
        fprintf(stderr, "%s: out of memory (%" PRIu64 " batches)\n", prog, batches);
        return 1;
    }

    /* Default (durable) flags: every commit syncs data and meta page.
     * MDB_NOTLS only affects read transactions' reader slots. */
    MDB_env *env;
    check_mdb(mdb_env_create(&env), "mdb_env_create");
    check_mdb(mdb_env_set_mapsize(env, append_map_size(o)), "mdb_env_set_mapsize");
    check_mdb(mdb_env_set_maxdbs(env, 1), "mdb_env_set_maxdbs");
    check_mdb(mdb_env_open(env, o->dir, MDB_NOTLS, 0644), "mdb_env_open");

    /* Create the named database in its own (untimed) transaction. */
    MDB_txn *txn;
    MDB_dbi dbi;
    check_mdb(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
    check_mdb(mdb_dbi_open(txn, DB_NAME, MDB_CREATE, &dbi), "mdb_dbi_open");
    check_mdb(mdb_txn_commit(txn), "mdb_txn_commit");

    unsigned char keybuf[KEY_BYTES];
    MDB_val key = {.mv_size = KEY_BYTES, .mv_data = keybuf};
    MDB_val val = {.mv_size = (size_t)o->size, .mv_data = NULL};

    /* Timed region: from the first txn begin to the last commit's return.
     * Environment open and database creation are excluded. */
    uint64_t pos = 1; /* next key; positions start at 1 */
    double run_start = now_seconds();
    for (uint64_t b = 0; b < batches; b++) {
        uint64_t n = o->events - (pos - 1);
        if (n > o->batch)
            n = o->batch;

        double t0 = now_seconds();
        MDB_cursor *cur;
        check_mdb(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
        check_mdb(mdb_cursor_open(txn, dbi, &cur), "mdb_cursor_open");
        for (uint64_t i = 0; i < n; i++, pos++) {
            put_be64(keybuf, pos);
            val.mv_data = content + (size_t)((pos * VALUE_STRIDE) % CONTENT_SLACK);
            check_mdb(mdb_cursor_put(cur, &key, &val, MDB_APPEND), "mdb_cursor_put");
        }
        mdb_cursor_close(cur);
        check_mdb(mdb_txn_commit(txn), "mdb_txn_commit");
        batch_ms[b] = (now_seconds() - t0) * 1e3;
    }
    double seconds = now_seconds() - run_start;

    mdb_dbi_close(env, dbi);
    mdb_env_close(env);

    qsort(batch_ms, (size_t)batches, sizeof *batch_ms, compare_doubles);
    emit_append(o, seconds, percentile(batch_ms, (size_t)batches, 50.0),
                percentile(batch_ms, (size_t)batches, 99.0));

    free(batch_ms);
    free(content);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* scan                                                                      */

struct scan_opts {
    const char *dir;
    uint64_t passes;
    int touch; /* --touch: also read the first 8 bytes of every value */
};

struct scan_result {
    uint64_t entries;
    uint64_t key_bytes;
    uint64_t value_bytes;
};

/* Written after every pass so the length sums cannot be optimized away. */
static volatile uint64_t scan_sink;

/* One full pass: one read txn, one cursor, MDB_FIRST then MDB_NEXT to the end. */
static struct scan_result scan_pass(MDB_env *env, MDB_dbi dbi, int touch)
{
    struct scan_result r = {0, 0, 0};
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val key, val;

    check_mdb(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin (read)");
    check_mdb(mdb_cursor_open(txn, dbi, &cur), "mdb_cursor_open");
    int rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    while (rc == MDB_SUCCESS) {
        r.entries++;
        r.key_bytes += key.mv_size;
        r.value_bytes += val.mv_size;
        if (touch && val.mv_size >= 8) {
            /* What the cheapest header decode must do: load from the value's memory. */
            uint64_t word;
            memcpy(&word, val.mv_data, 8);
            r.key_bytes += word & 1;
        }
        rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND)
        check_mdb(rc, "mdb_cursor_get");
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);

    scan_sink = r.key_bytes + r.value_bytes;
    return r;
}

static void emit_scan(const struct scan_result *r, double seconds, int touch)
{
    double avg_value = r->entries ? (double)r->value_bytes / (double)r->entries : 0.0;
    double eps = seconds > 0 ? (double)r->entries / seconds : 0.0;
    double mbps = seconds > 0 ? (double)r->value_bytes / 1e6 / seconds : 0.0;
    printf("{\"workload\":\"scan\",\"implementation\":\"%s\","
           "\"events\":%" PRIu64 ",\"record_bytes\":%.0f,"
           "\"seconds\":%.6f,\"events_per_second\":%.0f,\"mb_per_second\":%.3f}\n",
           touch ? IMPLEMENTATION "-touch" : IMPLEMENTATION, r->entries, avg_value, seconds, eps, mbps);
}

static int cmd_scan(const struct scan_opts *o)
{
    struct stat st;
    if (stat(o->dir, &st) != 0)
        fail_errno("cannot stat", o->dir);

    /* Read-only environment; map size 0 means "use the size in the file". */
    MDB_env *env;
    check_mdb(mdb_env_create(&env), "mdb_env_create");
    check_mdb(mdb_env_set_maxdbs(env, 1), "mdb_env_set_maxdbs");
    check_mdb(mdb_env_open(env, o->dir, MDB_RDONLY | MDB_NOTLS, 0644), "mdb_env_open");

    /* Open the named database; the handle becomes usable by later
     * transactions once this one commits. */
    MDB_txn *txn;
    MDB_dbi dbi;
    check_mdb(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin (read)");
    check_mdb(mdb_dbi_open(txn, DB_NAME, 0, &dbi), "mdb_dbi_open (\"" DB_NAME "\")");
    check_mdb(mdb_txn_commit(txn), "mdb_txn_commit (read)");

    /* Untimed warm-up: faults the map into the page cache and our page tables. */
    struct scan_result warm = scan_pass(env, dbi, o->touch);

    double *pass_s = malloc((size_t)o->passes * sizeof *pass_s);
    if (pass_s == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    for (uint64_t p = 0; p < o->passes; p++) {
        double t0 = now_seconds();
        struct scan_result r = scan_pass(env, dbi, o->touch);
        pass_s[p] = now_seconds() - t0;
        if (r.entries != warm.entries || r.value_bytes != warm.value_bytes) {
            fprintf(stderr, "%s: store changed during the scan passes\n", prog);
            return 1;
        }
    }
    fprintf(stderr, "%s: scanned %" PRIu64 " entries, %" PRIu64 " key+value bytes per pass\n", prog,
            warm.entries, (uint64_t)scan_sink);

    mdb_dbi_close(env, dbi);
    mdb_env_close(env);

    qsort(pass_s, (size_t)o->passes, sizeof *pass_s, compare_doubles);
    emit_scan(&warm, median(pass_s, (size_t)o->passes), o->touch);
    free(pass_s);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Command line                                                              */

/* Return the value following flag argv[*i], advancing *i; usage error if none. */
static const char *flag_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s needs a value", argv[*i]);
        usage_error(msg);
    }
    *i += 1;
    return argv[*i];
}

static void unknown_flag(const char *flag)
{
    char msg[128];
    snprintf(msg, sizeof msg, "unknown option '%s'", flag);
    usage_error(msg);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage_error(NULL);
    const char *cmd = argv[1];

    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        fputs(USAGE, stdout);
        return 0;
    }

    if (strcmp(cmd, "append") == 0) {
        struct append_opts o = {NULL, 0, 0, 0};
        for (int i = 2; i < argc; i++) {
            const char *f = argv[i];
            if (strcmp(f, "--dir") == 0)
                o.dir = flag_value(argc, argv, &i);
            else if (strcmp(f, "--events") == 0)
                o.events = parse_count(f, flag_value(argc, argv, &i), MAX_EVENTS);
            else if (strcmp(f, "--batch") == 0)
                o.batch = parse_count(f, flag_value(argc, argv, &i), MAX_EVENTS);
            else if (strcmp(f, "--size") == 0)
                o.size = parse_count(f, flag_value(argc, argv, &i), MAX_EVENT_BYTES);
            else
                unknown_flag(f);
        }
        if (o.dir == NULL || o.events == 0 || o.batch == 0 || o.size == 0)
            usage_error("append needs --dir, --events, --batch and --size");
        return cmd_append(&o);
    }

    if (strcmp(cmd, "scan") == 0) {
        struct scan_opts o = {NULL, 3, 0};
        for (int i = 2; i < argc; i++) {
            const char *f = argv[i];
            if (strcmp(f, "--dir") == 0)
                o.dir = flag_value(argc, argv, &i);
            else if (strcmp(f, "--passes") == 0)
                o.passes = parse_count(f, flag_value(argc, argv, &i), 1000);
            else if (strcmp(f, "--touch") == 0)
                o.touch = 1;
            else
                unknown_flag(f);
        }
        if (o.dir == NULL)
            usage_error("scan needs --dir");
        return cmd_scan(&o);
    }

    char msg[128];
    snprintf(msg, sizeof msg, "unknown subcommand '%s'", cmd);
    usage_error(msg);
    return 2;
}
