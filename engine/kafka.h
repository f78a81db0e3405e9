/*
 * Kafka on the loop: a consumer-group consumer woken through its queue's event fd, a producer
 * served from a timer, and the local Kafka-protocol cluster (librdkafka's mock cluster) that
 * the demo, the tests and `kafka.brokers: embedded` use.
 *
 * The consumer forwards librdkafka's main queue to the consumer queue
 * (rd_kafka_poll_set_consumer), enables the queue's io event on a non-blocking pipe, and
 * polls the pipe's read end with uv_poll. When readable it drains the pipe and consumes with
 * timeout 0 in batches until the queue is empty, handing each batch to the caller's callback.
 * Offsets are stored (enable.auto.offset.store=false) only after the callback returns, so a
 * batch is committed only once processed. A slow timer also serves the queue so rebalances
 * and errors are handled even when no message arrives.
 */
#ifndef DRIFT_KAFKA_H
#define DRIFT_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <uv.h>

#include "config.h"

/* ---------------------------------------------------------------------------------------------
 * Local cluster
 * -------------------------------------------------------------------------------------------*/
struct drift_mock;

struct drift_mock_topic {
    const char *name;
    int partitions;
};

/* Starts a mock cluster of nbrokers brokers on loopback (it runs on librdkafka's threads) and
 * creates the topics. Returns NULL and fills err on failure. Free with drift_mock_destroy. */
struct drift_mock *drift_mock_create(int nbrokers, const struct drift_mock_topic *topics,
                                     int ntopics, char *err, size_t errlen);
/* The bootstrap.servers list for clients, owned by the mock. */
const char *drift_mock_bootstraps(const struct drift_mock *m);
/* Creates one more topic. Returns 0 or DRIFT_EFAULT. */
int drift_mock_topic_create(struct drift_mock *m, const char *name, int partitions);
/* Takes broker id (1..n, or -1 for all) down or up, for fault tests. A broker that is down
 * closes its connections and refuses new ones; its partitions keep it as leader (the mock has
 * no failover). Returns 0, DRIFT_EINVAL for a bad id, or DRIFT_EFAULT. */
int drift_mock_broker_set_up(struct drift_mock *m, int broker_id, int up);
/* Makes topic answer with the librdkafka error named errname (as rd_kafka_err2name gives it,
 * e.g. "UNKNOWN_TOPIC_OR_PART"; case and an "ERR_" prefix do not matter), or "none" to answer
 * normally again: Metadata requests carry it as the topic's error for as long as it is set, and
 * the next few Fetch requests (of any topic) fail with it, so consumers refresh their metadata
 * at once, as they would for a topic deleted on a real cluster. A topic the cluster does not
 * have yet is created (as auto-creation would). Returns 0, DRIFT_EINVAL (no topic) or
 * DRIFT_ENOENT (unknown error name). */
int drift_mock_topic_set_error(struct drift_mock *m, const char *topic, const char *errname);
/* The number of brokers (ids 1..n). */
int drift_mock_brokers(const struct drift_mock *m);
void drift_mock_destroy(struct drift_mock *m);

/* ---------------------------------------------------------------------------------------------
 * Consumer
 * -------------------------------------------------------------------------------------------*/
struct drift_consumer;

/* Receives one batch of n >= 1 messages, all without error (errors are handled and logged by
 * the consumer). The messages are valid only during the call. */
typedef void (*drift_consumer_batch_fn)(void *ctx, rd_kafka_message_t **msgs, size_t n);

/* Creates a consumer in group `group` subscribed to topics, bootstrapped from brokers, with the
 * extra librdkafka properties props. Starts polling on loop. Returns 0 and *out, or a negative
 * code with err filled; on failure the callback never runs. */
int drift_consumer_open(uv_loop_t *loop, const char *brokers, const char *group,
                        const char *offset_reset, const struct drift_kv *props, int nprops,
                        const char *const *topics, int ntopics, int batch_max,
                        drift_consumer_batch_fn fn, void *ctx, struct drift_consumer **out,
                        char *err, size_t errlen);
/* Rebalance hooks, called on the loop thread inside a consume call (or the close):
 * on_assign with the partitions about to be assigned, whose offsets it may set (the next offset
 * to consume; RD_KAFKA_OFFSET_INVALID leaves the committed one); on_revoke with the partitions
 * about to be taken away, lost = 1 when another member may already own them. Either may be
 * NULL. */
typedef void (*drift_consumer_rebalance_fn)(void *ctx, rd_kafka_topic_partition_list_t *parts,
                                            int lost);
void drift_consumer_on_rebalance(struct drift_consumer *c, drift_consumer_rebalance_fn on_assign,
                                 drift_consumer_rebalance_fn on_revoke, void *ctx);
/* Messages consumed so far (all, including those later skipped as malformed). */
unsigned long long drift_consumer_count(const struct drift_consumer *c);
/* Calls fn with the lag (high watermark − position, from local state: no broker round trip) of
 * every assigned partition whose watermark is known. Returns how many, or DRIFT_EFAULT. */
int drift_consumer_lag(struct drift_consumer *c,
                       void (*fn)(void *ctx, const char *topic, int32_t partition, int64_t lag),
                       void *ctx);
/* 1 when at least one partition is assigned. */
int drift_consumer_assigned(const struct drift_consumer *c);
/* From now on batches do not store their offsets for commit; the owner stores them with
 * drift_consumer_store_offset (the daemon: the offsets of each checkpoint, so that the committed
 * offsets never run ahead of the state). */
void drift_consumer_manual_offsets(struct drift_consumer *c);
/* Stores next as the offset to commit for an assigned partition. 0, or DRIFT_EFAULT when it is
 * not assigned (any more). */
int drift_consumer_store_offset(struct drift_consumer *c, const char *topic, int32_t partition,
                                int64_t next);
/* Moves an assigned partition's position to offset (asynchronously; messages already fetched
 * for it are dropped). Returns 0 or DRIFT_EFAULT (logged). */
int drift_consumer_seek(struct drift_consumer *c, const char *topic, int32_t partition,
                        int64_t offset);
/* 1 and why when Kafka is failing the consumer: no broker reachable, or a topic answering
 * with an error (UNKNOWN_TOPIC_OR_PART: deleted) in the last 30 s; 0 when all is well. */
int drift_consumer_fault(const struct drift_consumer *c, char *why, size_t len);
/* Stops polling, commits stored offsets, leaves the group and frees everything. Blocks for at
 * most a few seconds (consumer close). Safe on NULL. */
void drift_consumer_close(struct drift_consumer *c);

/* ---------------------------------------------------------------------------------------------
 * Producer
 * -------------------------------------------------------------------------------------------*/
struct drift_producer;

/* Delivery report: err is 0 on success. opaque is the per-message opaque given to produce. */
typedef void (*drift_producer_dr_fn)(void *ctx, void *opaque, int err, const char *errstr);

int drift_producer_open(uv_loop_t *loop, const char *brokers, const struct drift_kv *props,
                        int nprops, drift_producer_dr_fn dr, void *ctx,
                        struct drift_producer **out, char *err, size_t errlen);
/* Copies key and value and queues the message. Returns 0, DRIFT_EAGAIN (queue full) or
 * DRIFT_EFAULT. */
int drift_producer_send(struct drift_producer *p, const char *topic, const void *key,
                        size_t keylen, const void *val, size_t len, void *opaque);
/* The same with message headers (names and values copied). */
int drift_producer_send_headers(struct drift_producer *p, const char *topic, const void *key,
                                size_t keylen, const void *val, size_t len,
                                const struct drift_kv *headers, int nheaders, void *opaque);
/* Messages queued but not yet delivered. */
int drift_producer_outq(const struct drift_producer *p);
/* Flushes for at most timeout_ms, then frees. Safe on NULL. */
void drift_producer_close(struct drift_producer *p, int timeout_ms);

#endif
