/*
 * The local Kafka-protocol cluster: librdkafka's mock cluster behind a small API.
 *
 * The demo, the tests and `kafka.brokers: embedded` need a broker without a JVM. librdkafka
 * ships one: rd_kafka_mock_cluster_new() starts n brokers on loopback ports, served by
 * librdkafka's own threads, that speak enough of the protocol for producers, consumer groups
 * and offset commits. It needs an rd_kafka_t for book-keeping only; we create a producer handle
 * that is never used for anything else and keep it quiet (errors only), because its logs are
 * about the helper, not about the clients. The mock API is experimental in librdkafka (no ABI
 * guarantee), which is one more reason to keep all of it in this file.
 *
 * Fault injection for tests: a broker can be taken down and up (it drops its connections and
 * refuses new ones; leadership does not move, as the mock has no failover), and a topic can be
 * made to answer with an error. The mock cluster of librdkafka 2.0 has no topic deletion (the
 * DeleteTopics API is not served and there is no rd_kafka_mock_topic_delete), so "the topic was
 * deleted" is simulated with rd_kafka_mock_topic_set_error(UNKNOWN_TOPIC_OR_PART). The mock uses
 * that error in Metadata responses only; a fetcher would not ask for metadata before its next
 * periodic refresh (topic.metadata.refresh.interval.ms, five minutes by default), so we also
 * fail the next Fetch requests with the same error, as a real broker does for a deleted topic:
 * that makes every consumer refresh its metadata at once and see the topic error.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "drift_op.h"
#include "kafka.h"
#include "log.h"

#define MOCK_MAX_BROKERS 64 /* far beyond any test; librdkafka itself allows 10000 */
#define MOCK_MAX_RF 3       /* replication factor of created topics, as for auto-created ones */
#define MOCK_FETCH_ERRORS 4 /* Fetch requests a topic error fails: enough for a few consumers */
#define MOCK_APIKEY_FETCH 1 /* the Fetch request's ApiKey (rdkafka_protocol.h, not installed) */

struct drift_mock {
    rd_kafka_t *rk;              /* the helper handle the cluster lives on */
    rd_kafka_mock_cluster_t *mc; /* the cluster, owned by us, destroyed before rk */
    char *bootstraps;            /* copy of the listener list */
    int nbrokers;
};

/* The helper handle's log lines: only errors get here (log_level 3), and they run on
 * librdkafka's threads, where drift_log is safe (one locked write per line). */
static void mock_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    DRIFT_ERROR("kafka mock cluster", "facility=%s detail=\"%s\"", fac, buf);
}

struct drift_mock *drift_mock_create(int nbrokers, const struct drift_mock_topic *topics,
                                     int ntopics, char *err, size_t errlen)
{
    char errstr[512];
    if (nbrokers < 1 || nbrokers > MOCK_MAX_BROKERS) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "kafka mock cluster: brokers must be 1..%d, got %d",
                     MOCK_MAX_BROKERS, nbrokers);
        return NULL;
    }
    if (ntopics < 0 || (ntopics > 0 && topics == NULL)) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "kafka mock cluster: bad topic list");
        return NULL;
    }
    for (int i = 0; i < ntopics; i++) {
        if (topics[i].name == NULL || topics[i].name[0] == '\0' || topics[i].partitions < 1) {
            drift_seterr(err, errlen, DRIFT_EINVAL,
                         "kafka mock cluster: topic %d needs a name and partitions >= 1, got %d", i,
                         topics[i].partitions);
            return NULL;
        }
    }
    struct drift_mock *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "kafka mock cluster: out of memory");
        return NULL;
    }
    m->nbrokers = nbrokers;

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "client.id", "driftd-mock", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
        drift_seterr(err, errlen, DRIFT_EFAULT, "kafka mock cluster: %s", errstr);
        rd_kafka_conf_destroy(conf);
        free(m);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, mock_log_cb);
    /* rd_kafka_new takes conf only on success. */
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (m->rk == NULL) {
        drift_seterr(err, errlen, DRIFT_EFAULT, "kafka mock cluster: %s", errstr);
        rd_kafka_conf_destroy(conf);
        free(m);
        return NULL;
    }
    m->mc = rd_kafka_mock_cluster_new(m->rk, nbrokers);
    if (m->mc == NULL) {
        drift_seterr(err, errlen, DRIFT_EFAULT,
                     "kafka mock cluster: could not start %d broker(s) on loopback", nbrokers);
        drift_mock_destroy(m);
        return NULL;
    }
    m->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(m->mc));
    if (m->bootstraps == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "kafka mock cluster: out of memory");
        drift_mock_destroy(m);
        return NULL;
    }
    for (int i = 0; i < ntopics; i++) {
        if (drift_mock_topic_create(m, topics[i].name, topics[i].partitions) != 0) {
            drift_seterr(err, errlen, DRIFT_EFAULT,
                         "kafka mock cluster: could not create topic '%s' (%d partitions)",
                         topics[i].name, topics[i].partitions);
            drift_mock_destroy(m);
            return NULL;
        }
    }
    return m;
}

const char *drift_mock_bootstraps(const struct drift_mock *m)
{
    return m->bootstraps;
}

int drift_mock_topic_create(struct drift_mock *m, const char *name, int partitions)
{
    if (m == NULL || name == NULL || name[0] == '\0' || partitions < 1) {
        return DRIFT_EFAULT;
    }
    int rf = m->nbrokers < MOCK_MAX_RF ? m->nbrokers : MOCK_MAX_RF;
    rd_kafka_resp_err_t rerr = rd_kafka_mock_topic_create(m->mc, name, partitions, rf);
    if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        DRIFT_ERROR("kafka mock topic not created", "topic=%s partitions=%d error=\"%s\"", name,
                    partitions, rd_kafka_err2str(rerr));
        return DRIFT_EFAULT;
    }
    return 0;
}

int drift_mock_broker_set_up(struct drift_mock *m, int broker_id, int up)
{
    if (m == NULL || broker_id == 0 || broker_id < -1 || broker_id > m->nbrokers) {
        return DRIFT_EINVAL;
    }
    rd_kafka_resp_err_t rerr = up ? rd_kafka_mock_broker_set_up(m->mc, broker_id)
                                  : rd_kafka_mock_broker_set_down(m->mc, broker_id);
    return rerr == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : DRIFT_EFAULT;
}

/* Looks up a librdkafka error by name ("UNKNOWN_TOPIC_OR_PART", "_TRANSPORT"), ignoring case
 * and an "ERR_" or "RD_KAFKA_RESP_ERR_" prefix. Returns 0 and *out, or DRIFT_ENOENT. */
static int mock_err_lookup(const char *name, rd_kafka_resp_err_t *out)
{
    const struct rd_kafka_err_desc *descs;
    size_t cnt;
    if (strncasecmp(name, "RD_KAFKA_RESP_", 14) == 0) {
        name += 14;
    }
    if (strncasecmp(name, "ERR_", 4) == 0) {
        name += 4;
    }
    rd_kafka_get_err_descs(&descs, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        if (descs[i].name != NULL && strcasecmp(descs[i].name, name) == 0) {
            *out = descs[i].code;
            return 0;
        }
    }
    return DRIFT_ENOENT;
}

int drift_mock_topic_set_error(struct drift_mock *m, const char *topic, const char *errname)
{
    rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (m == NULL || topic == NULL || topic[0] == '\0' || errname == NULL) {
        return DRIFT_EINVAL;
    }
    if (strcasecmp(errname, "none") != 0) {
        if (mock_err_lookup(errname, &rerr) != 0) {
            return DRIFT_ENOENT;
        }
    }
    rd_kafka_mock_topic_set_error(m->mc, topic, rerr);
    if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_resp_err_t errs[MOCK_FETCH_ERRORS];
        for (int i = 0; i < MOCK_FETCH_ERRORS; i++) {
            errs[i] = rerr;
        }
        rd_kafka_mock_push_request_errors_array(m->mc, MOCK_APIKEY_FETCH, MOCK_FETCH_ERRORS, errs);
    } else {
        /* Fetch errors not consumed yet would hit the topic after it is back. */
        rd_kafka_mock_clear_request_errors(m->mc, MOCK_APIKEY_FETCH);
    }
    return 0;
}

int drift_mock_brokers(const struct drift_mock *m)
{
    return m->nbrokers;
}

void drift_mock_destroy(struct drift_mock *m)
{
    if (m == NULL) {
        return;
    }
    /* The cluster first: it lives on the handle's threads. */
    if (m->mc != NULL) {
        rd_kafka_mock_cluster_destroy(m->mc);
    }
    if (m->rk != NULL) {
        rd_kafka_destroy(m->rk);
    }
    free(m->bootstraps);
    free(m);
}
