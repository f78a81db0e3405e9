/*
 * kafka-local: runs a local Kafka-protocol cluster (librdkafka's mock cluster, engine/mock.c)
 * until told to stop, for the integration tests, the demo and trying driftd by hand with kcat.
 *
 *   kafka-local [--brokers N] [--topic NAME[:PARTITIONS]]... [--no-stdin]
 *
 * The first line on stdout is the bootstrap.servers list (flushed at once, so a script can read
 * it while we run); human lines go to stderr. It stops on SIGTERM or SIGINT and, unless
 * --no-stdin, when stdin reaches EOF: a parent that holds our stdin open owns our lifetime, and
 * we cannot outlive it by accident. The signal handler only writes the signal number to a pipe
 * that the main thread polls: it may run on any thread (sanitizer runtimes start threads before
 * main, so blocking the signals in our threads alone would not be enough), and all the work is
 * done on the main thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
            "  --no-stdin         do not stop when stdin reaches EOF (only on SIGTERM/SIGINT)\n",
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

/* Waits for SIGTERM/SIGINT on sfd (the read end of the signal pipe), or for EOF (or a read
 * error) on stdin when watch_stdin. Returns the signal number, or 0 for EOF. */
static int wait_for_stop(int sfd, int watch_stdin)
{
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
        if (watch_stdin && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
            char buf[4096];
            ssize_t r = read(0, buf, sizeof(buf));
            if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
                return 0;
            }
            if (pfd[1].revents & POLLNVAL) {
                return 0; /* no stdin at all */
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

    int sig = wait_for_stop(sfd, watch_stdin);
    fprintf(stderr, "kafka-local: stopping (%s)\n", sig ? strsignal(sig) : "stdin closed");
    drift_mock_destroy(m);
    close(sfd);
    return 0;
}
