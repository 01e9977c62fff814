from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from config import Settings
from storage.models import (
    AuditLog,
    Classification,
    CrawlRun,
    Delivery,
    Issue,
    IssuePost,
    Post,
    Source,
    Subscriber,
    SubscriberChannel,
    Topic,
    utcnow,
)
from storage.retention import purge


def _count(s: Session, model: type) -> int:
    return int(s.exec(select(func.count()).select_from(model)).one())


def test_purge_applies_each_retention_period(settings: Settings, engine: Engine) -> None:
    now = utcnow()
    old, fresh = now - timedelta(days=120), now - timedelta(days=1)
    with Session(engine) as s:
        src = Source(name="f", type="rss", url="http://127.0.0.1/f")
        topic = Topic(label="Störung")
        s.add_all([src, topic])
        s.flush()
        issue = Issue(topic_id=topic.id, title="Störung")
        s.add(issue)
        s.flush()
        posts = []
        for i, when in enumerate([old, old, fresh]):
            p = Post(source_id=src.id, external_id=str(i), text=f"Kein Netz {i}", published_at=when,
                     content_hash=str(i))
            s.add(p)
            s.flush()
            posts.append(p)
            s.add(Classification(post_id=p.id, lang="de"))
            s.add(IssuePost(issue_id=issue.id, post_id=p.id))
        posts[2].duplicate_of = posts[0].id  # a fresh cross-post of an old post survives
        s.add(CrawlRun(source_id=src.id, started_at=old))
        s.add(CrawlRun(source_id=src.id, started_at=fresh))
        s.add(AuditLog(action="x", entity_type="post", at=now - timedelta(days=400)))
        gone = Subscriber(name="Ex-Kunde", unsubscribed_at=now - timedelta(days=40))
        stays = Subscriber(name="Kundin", unsubscribed_at=None, opt_in_confirmed_at=now)
        s.add_all([gone, stays])
        s.flush()
        s.add(SubscriberChannel(subscriber_id=gone.id, channel="email", address="ex@kunden.example"))
        s.add(Delivery(idempotency_key="k1", subscriber_id=gone.id, channel="email", address="ex@kunden.example",
                       status="pending"))
        s.add(Delivery(idempotency_key="k2", channel="email", address="a@b.example", status="sent",
                       created_at=now - timedelta(days=200)))
        s.commit()
        gone_id = gone.id

    res = purge(settings, engine, now)
    assert (res.posts, res.crawl_runs, res.audit, res.deliveries, res.subscribers) == (2, 1, 1, 1, 1)
    with Session(engine) as s:
        assert [p.external_id for p in s.exec(select(Post)).all()] == ["2"]
        assert s.exec(select(Post)).one().duplicate_of is None
        assert _count(s, Classification) == 1 and _count(s, IssuePost) == 1
        assert _count(s, Issue) == 1  # issues keep the history
        assert s.get(Subscriber, gone_id) is None
        assert _count(s, SubscriberChannel) == 0
        left = s.exec(select(Delivery)).one()
        assert left.subscriber_id is None and left.address == "(gelöscht)"
        assert "ex@kunden.example" not in str([a.detail for a in s.exec(select(AuditLog)).all()])
    assert purge(settings, engine, now).posts == 0  # idempotent
