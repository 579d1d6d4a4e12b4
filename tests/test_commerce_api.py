"""The shop's HTTP calls on both databases: a team opened and joined, a bargain cut, a share
opened and clicked, coupons and prices read back; 404 and 409 say what and why."""

from datetime import datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient

from shequn.commerce.mechanics import add_deal, open_bargain
from shequn.commerce.models import Bargain
from shequn.commerce.routes import router
from shequn.commerce.rules import CouponKind, Tier, split_cut
from shequn.commerce.service import add_product, add_template, schedule_price
from shequn.kit.time import utc_now
from shequn.org.service import create_token
from shequn.wiring import Shequn
from tests.conftest import event, ingest


def shop(shequn: Shequn) -> tuple[str, Bargain]:
    """A dress at ¥600, a 2-person group-buy at ¥500, a ¥100 coupon, u1's bargain and order."""
    ingest(shequn, [event("pay-1", "order.paid", "2020-11-11T20:31:00", {
        "order": "o1", "member": "u1", "amount": "600.00",
        "items": [{"sku": "dress", "qty": 1, "unit_price": "600.00"}]}, source="shop")])  # fmt: skip
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo")
        add_product(context, org="demo", sku="dress", name="真丝连衣裙")
        schedule_price(context, org="demo", sku="dress", price=60000,
                       effective_at=datetime.fromisoformat("2020-11-11T00:00:00+08:00"),
                       cause="sale")  # fmt: skip
        add_deal(context, org="demo", deal="pair", sku="dress", tiers=[Tier(2, 50000)], hours=24)
        add_template(context, org="demo", template="c100", name="无门槛券",
                     kind=CouponKind.AMOUNT_OFF, amount_off=10000)  # fmt: skip
        bargain = open_bargain(context, org="demo", member="u1", sku="dress", start_price=60000,
                               target_price=27000, assists=3, hours=24, seed="api")  # fmt: skip
        context.flush()
        token = create_token(session, "demo", name="test", now=utc_now())
    return token, bargain


def test_members_join_cut_and_click_through_the_api_with_404_and_409_naming_why(
    shequn: Shequn,
) -> None:
    token, bargain = shop(shequn)
    app = FastAPI()
    app.state.shequn = shequn
    app.include_router(router)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        opened = client.post("/api/v1/groupbuys/pair/teams", headers=headers,
                             json={"member": "u1", "order": "o1", "key": "k"})  # fmt: skip
        assert opened.status_code == 201, opened.text
        team = opened.json()["team"]
        joined = client.post(f"/api/v1/teams/{team}/joins", headers=headers,
                             json={"member": "u2"}).json()  # fmt: skip
        assert (joined["status"], joined["price"], joined["size"]) == ("succeeded", "500.00", 2)
        closed = client.post(f"/api/v1/teams/{team}/joins", headers=headers, json={"member": "u3"})
        assert (closed.status_code, closed.json()["detail"]["reason"]) == (409, "closed")
        assert client.post("/api/v1/teams/nope/joins", headers=headers,
                           json={"member": "u3"}).status_code == 404  # fmt: skip

        cut = client.post(f"/api/v1/bargains/{bargain.id}/assists", headers=headers,
                          json={"friend": "f1"}).json()  # fmt: skip
        assert cut["cut"] == f"{split_cut(33000, 3, 'api')[0] / 100:.2f}"
        own = client.post(f"/api/v1/bargains/{bargain.id}/assists", headers=headers,
                          json={"friend": "u1"})  # fmt: skip
        assert (own.status_code, own.json()["detail"]["reason"]) == (409, "own")

        shared = client.post("/api/v1/shares", headers=headers, json={
            "order": "o1", "template": "c100", "min": "5.00", "max": "20.00", "clicks": 1})  # fmt: skip
        assert shared.status_code == 201, shared.text
        share = shared.json()["share"]
        clicked = client.post(f"/api/v1/shares/{share}/clicks", headers=headers,
                              json={"member": "u2"}).json()  # fmt: skip
        assert 5 <= float(clicked["amount"]) <= 20
        late = client.post(f"/api/v1/shares/{share}/clicks", headers=headers,
                           json={"member": "u3"})  # fmt: skip
        assert late.json()["detail"]["reason"] == "used_up"

        coupons = client.get("/api/v1/coupons/u2", headers=headers).json()
        assert [(c["code"], c["amount_off"]) for c in coupons] == [
            (clicked["code"], clicked["amount"])
        ]
        products = client.get("/api/v1/products", headers=headers).json()
        assert [(p["sku"], p["price"]) for p in products] == [("dress", "600.00")]
        assert client.get("/api/v1/products").status_code == 401
