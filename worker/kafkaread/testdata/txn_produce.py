"""Produce transactions with librdkafka (python3-confluent-kafka) to
partition 0 of a topic: commit A1 A2, abort B1 B2, commit A3 and the
sentinel. Used by kafkaread's TestLibrdkafkaTransactions.

usage: txn_produce.py BOOTSTRAP TOPIC COMPRESSION
"""
import sys

from confluent_kafka import Producer


def main():
    bootstrap, topic, codec = sys.argv[1], sys.argv[2], sys.argv[3]
    p = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": topic + "-librdkafka",
        "compression.type": codec,
        "linger.ms": 5,
        "broker.address.family": "v4",
    })
    p.init_transactions(30)

    def txn(values, commit):
        p.begin_transaction()
        for v in values:
            p.produce(topic, value=v.encode(), partition=0,
                      headers=[("pad", b"x" * 512)])
        p.flush(30)
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)

    txn(["A1", "A2"], True)
    txn(["B1", "B2"], False)
    txn(["A3", "--end--"], True)


if __name__ == "__main__":
    main()
