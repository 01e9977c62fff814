import threading

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from alerting.subscribers import add_subscriber
from config import Settings
from fruehwarn.public import make_server
from storage.models import Subscriber


def test_unsubscribe_and_confirm_need_a_post_and_a_valid_token(settings: Settings, engine: Engine) -> None:
    with Session(engine) as s:
        sub = add_subscriber(s, name="Jana", channels=[("email", "jana@kunden.example")], regions=["Hamburg"], confirmed=False,
                             send_confirmation=False)
        s.commit()
        sid, unsub, optin = sub.id, sub.unsubscribe_token, sub.opt_in_token
    assert unsub and optin
    server = make_server(settings, engine, host="127.0.0.1", port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        page = httpx.get(f"{base}/unsubscribe?token={unsub}")
        assert page.status_code == 200 and "Abbestellen" in page.text
        with Session(engine) as s:
            assert s.get(Subscriber, sid).unsubscribed_at is None  # a GET (link scanner) changes nothing

        r = httpx.post(f"{base}/confirm?token={optin}")
        assert r.status_code == 200 and "bestätigt" in r.text
        r = httpx.post(f"{base}/unsubscribe?token={unsub}", data={"List-Unsubscribe": "One-Click"})
        assert r.status_code == 200 and "keine Servicehinweise mehr" in r.text
        with Session(engine) as s:
            got = s.get(Subscriber, sid)
            assert got.unsubscribed_at is not None and got.opt_in_confirmed_at is not None

        assert httpx.post(f"{base}/unsubscribe?token=falsch").status_code == 404
        assert httpx.post(f"{base}/confirm?token={optin}").status_code == 404  # used once
        assert httpx.get(f"{base}/admin").status_code == 404
        evil = httpx.get(f"{base}/unsubscribe?token=%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
        assert "<script>" not in evil.text
    finally:
        server.shutdown()
        server.server_close()
