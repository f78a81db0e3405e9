/*
 * kafka-local: runs a local Kafka-protocol cluster (librdkafka's mock cluster, engine/mock.c)
 * until told to stop, for the integration tests, the demo and trying driftd by hand with kcat.
 *
 *   kafka-local [--brokers N] [--topic NAME[:PARTITIONS]]... [--no-stdin]
 *
 * The first line on stdout is the bootstrap.servers list (flushed at once, so a script can read
 * it while we run); human lines go to stderr. It stops on SIGTERM or SIGINT and, unless
 * --no-stdin, when stdin reaches EOF: a parent that holds our stdin open owns our lifetime, and
 * we cannot outlive it by accident.
 *
 * Stdin is also the control channel of fault tests: each line is one command, applied at once
 * and answered by one line on stderr that starts with "kafka-local: " ("kafka-local: broker 1
 * down"; a bad command gets "kafka-local: error: ..." and changes nothing).
 *
 *   down ID|all                     broker ID (1..N) or every broker stops serving: its
 *                                   connections are closed and new ones refused (leadership
 *                                   does not move: the mock has no failover)
 *   up ID|all                       the broker serves again
 *   topic-error TOPIC ERRNAME|none  TOPIC answers metadata requests with the librdkafka error
 *                                   ERRNAME (e.g. UNKNOWN_TOPIC_OR_PART, which is how a
 *                                   deleted topic looks: the mock cluster cannot delete one),
 *                                   and the next few fetches fail with it; none clears it
 *
 * Empty lines and lines starting with '#' are ignored, with no answer. With --no-stdin nothing
 * is read.
 *
 * The signal handler only writes the signal number to a pipe that the main thread polls: it may
 * run on any thread (sanitizer runtimes start threads before main, so blocking the signals in
 * our threads alone would not be enough), and all the work, commands included, is done on the
 * main thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "drift_op.h"
#include "kafka.h"
#include "log.h"

#define MAX_TOPICS 256
#define MAX_BROKERS 64
#define DEFAULT_PARTITIONS 4

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kafka-local [--brokers N] [--topic NAME[:PARTITIONS]]... [--no-stdin]\n"
            "  Runs a local Kafka-protocol cluster and prints its bootstrap list on stdout.\n"
            "  --brokers N        brokers to start (1..%d, default 1)\n"
            "  --topic NAME[:P]   create topic NAME with P partitions (default %d); repeatable\n"
            "  --no-stdin         do not stop when stdin reaches EOF (only on SIGTERM/SIGINT)\n"
            "Commands on stdin, one per line, each answered by one line on stderr:\n"
            "  down ID|all                     take broker ID (1..N) or every broker down\n"
            "  up ID|all                       bring it back up\n"
            "  topic-error TOPIC ERRNAME|none  make TOPIC answer with a librdkafka error, e.g.\n"
            "                                  UNKNOWN_TOPIC_OR_PART (deleted); none clears it\n",
            MAX_BROKERS, DEFAULT_PARTITIONS);
}

/* Parses a positive int in [1, max]; returns -1 when s is not one. */
static int parse_count(const char *s, int max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > max) {
        return -1;
    }
    return (int)v;
}

static int sig_wfd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(sig_wfd, &b, 1) < 0) {
        /* the pipe is non-blocking; a full pipe already says "stop" */
    }
    errno = saved;
}

#define CMD_MAX 1024 /* longest command line; a longer one is refused whole */

/* The commands' shared help, for error lines. */
static const char cmd_help[] =
    "want 'down ID|all', 'up ID|all' or 'topic-error TOPIC ERRNAME|none'";

/* Runs one command line (NUL-terminated, no newline) against m and answers on stderr. */
static void run_command(struct drift_mock *m, char *line)
{
    char *save = NULL;
    char *verb = strtok_r(line, " \t\r", &save);
    if (verb == NULL || verb[0] == '#') {
        return;
    }
    char *a1 = strtok_r(NULL, " \t\r", &save);
    char *a2 = strtok_r(NULL, " \t\r", &save);
    char *extra = strtok_r(NULL, " \t\r", &save);
    int n = drift_mock_brokers(m);

    if (strcmp(verb, "down") == 0 || strcmp(verb, "up") == 0) {
        int up = verb[0] == 'u';
        if (a1 == NULL || a2 != NULL) {
            fprintf(stderr, "kafka-local: error: '%s' takes one argument, ID (1..%d) or all\n",
                    verb, n);
            return;
        }
        int id = strcmp(a1, "all") == 0 ? -1 : parse_count(a1, n);
        if (id == -1 && strcmp(a1, "all") != 0) {
            fprintf(stderr, "kafka-local: error: no broker '%s' in '%s %s' (want 1..%d or all)\n",
                    a1, verb, a1, n);
            return;
        }
        int rc = drift_mock_broker_set_up(m, id, up);
        if (rc != 0) {
            fprintf(stderr, "kafka-local: error: '%s %s' failed: %s\n", verb, a1,
                    drift_strerror(rc));
        } else if (id == -1) {
            fprintf(stderr, "kafka-local: all brokers %s\n", verb);
        } else {
            fprintf(stderr, "kafka-local: broker %d %s\n", id, verb);
        }
    } else if (strcmp(verb, "topic-error") == 0) {
        if (a1 == NULL || a2 == NULL || extra != NULL) {
            fprintf(stderr, "kafka-local: error: 'topic-error' takes TOPIC and ERRNAME|none\n");
            return;
        }
        int rc = drift_mock_topic_set_error(m, a1, a2);
        if (rc == DRIFT_ENOENT) {
            fprintf(stderr,
                    "kafka-local: error: unknown error name '%s' (want a librdkafka error name "
                    "such as UNKNOWN_TOPIC_OR_PART, or none)\n",
                    a2);
        } else if (rc != 0) {
            fprintf(stderr, "kafka-local: error: 'topic-error %s %s' failed: %s\n", a1, a2,
                    drift_strerror(rc));
        } else if (strcasecmp(a2, "none") == 0) {
            fprintf(stderr, "kafka-local: topic %s answers normally\n", a1);
        } else {
            fprintf(stderr, "kafka-local: topic %s answers %s\n", a1, a2);
        }
    } else {
        fprintf(stderr, "kafka-local: error: unknown command '%s' (%s)\n", verb, cmd_help);
    }
}

/* Reads what stdin has, runs every complete line as a command and keeps a partial one in
 * buf (len bytes) for the next call. Returns 0 at EOF or on a read error, 1 otherwise. */
static int read_commands(struct drift_mock *m, char *buf, size_t *len, int *overlong)
{
    ssize_t r = read(0, buf + *len, CMD_MAX - *len);
    if (r < 0) {
        return errno == EINTR || errno == EAGAIN;
    }
    if (r == 0) {
        return 0;
    }
    *len += (size_t)r;
    char *nl;
    while ((nl = memchr(buf, '\n', *len)) != NULL) {
        *nl = '\0';
        if (*overlong) {
            *overlong = 0;
        } else {
            run_command(m, buf);
        }
        size_t used = (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, *len - used);
        *len -= used;
    }
    if (*len == CMD_MAX) { /* no newline in a full buffer: drop the line up to its end */
        if (!*overlong) {
            fprintf(stderr, "kafka-local: error: command longer than %d bytes ignored\n",
                    CMD_MAX - 1);
        }
        *overlong = 1;
        *len = 0;
    }
    return 1;
}

/* Waits for SIGTERM/SIGINT on sfd (the read end of the signal pipe), or for EOF (or a read
 * error) on stdin when watch_stdin, running the commands stdin brings meanwhile. Returns the
 * signal number, or 0 for EOF. */
static int wait_for_stop(struct drift_mock *m, int sfd, int watch_stdin)
{
    static char buf[CMD_MAX];
    size_t len = 0;
    int overlong = 0;
    struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
    for (;;) {
        int n = poll(pfd, watch_stdin ? 2 : 1, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return 0;
        }
        if (pfd[0].revents & POLLIN) {
            unsigned char b;
            if (read(sfd, &b, 1) == 1) {
                return b;
            }
        }
        if (watch_stdin && (pfd[1].revents & POLLNVAL)) {
            return 0; /* no stdin at all */
        }
        if (watch_stdin && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (!read_commands(m, buf, &len, &overlong)) {
                return 0;
            }
        }
    }
}

int main(int argc, char **argv)
{
    static struct drift_mock_topic topics[MAX_TOPICS];
    int ntopics = 0, nbrokers = 1, watch_stdin = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--no-stdin") == 0) {
            watch_stdin = 0;
        } else if (strcmp(a, "--brokers") == 0 && i + 1 < argc) {
            nbrokers = parse_count(argv[++i], MAX_BROKERS);
            if (nbrokers < 0) {
                fprintf(stderr, "kafka-local: --brokers must be 1..%d, got '%s'\n", MAX_BROKERS,
                        argv[i]);
                usage(stderr);
                return 2;
            }
        } else if (strcmp(a, "--topic") == 0 && i + 1 < argc) {
            char *spec = argv[++i];
            char *colon = strrchr(spec, ':');
            int parts = DEFAULT_PARTITIONS;
            if (colon != NULL) {
                parts = parse_count(colon + 1, INT_MAX);
                *colon = '\0';
            }
            if (spec[0] == '\0' || parts < 0 || ntopics == MAX_TOPICS) {
                if (colon != NULL) {
                    *colon = ':';
                }
                fprintf(stderr,
                        "kafka-local: bad --topic '%s' (want NAME[:PARTITIONS>=1], at "
                        "most %d topics)\n",
                        spec, MAX_TOPICS);
                usage(stderr);
                return 2;
            }
            topics[ntopics++] = (struct drift_mock_topic){spec, parts};
        } else {
            fprintf(stderr, "kafka-local: unknown or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }

    int sfds[2];
    if (pipe2(sfds, O_NONBLOCK | O_CLOEXEC) != 0) {
        fprintf(stderr, "kafka-local: pipe: %s\n", strerror(errno));
        return 1;
    }
    int sfd = sfds[0];
    sig_wfd = sfds[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    drift_log_setup(DRIFT_LOG_WARN, 0);

    char err[512] = "";
    struct drift_mock *m = drift_mock_create(nbrokers, topics, ntopics, err, sizeof(err));
    if (m == NULL) {
        fprintf(stderr, "kafka-local: %s\n", err);
        close(sfd);
        return 1;
    }
    printf("%s\n", drift_mock_bootstraps(m));
    fflush(stdout);
    fprintf(stderr, "kafka-local: %d broker%s at %s\n", nbrokers, nbrokers == 1 ? "" : "s",
            drift_mock_bootstraps(m));
    for (int i = 0; i < ntopics; i++) {
        fprintf(stderr, "kafka-local: topic %s (%d partition%s)\n", topics[i].name,
                topics[i].partitions, topics[i].partitions == 1 ? "" : "s");
    }
    fprintf(stderr, "kafka-local: running until %s\n",
            watch_stdin ? "stdin closes or SIGTERM/SIGINT" : "SIGTERM/SIGINT");

    int sig = wait_for_stop(m, sfd, watch_stdin);
    fprintf(stderr, "kafka-local: stopping (%s)\n", sig ? strsignal(sig) : "stdin closed");
    drift_mock_destroy(m);
    close(sfd);
    return 0;
}
