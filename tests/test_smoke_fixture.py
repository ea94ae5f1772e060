from tests.factories import make_opportunity, make_token, make_user


def test_api_lists_only_own_deals(client, db_session):
    rep = make_user(db_session)
    other = make_user(db_session)
    mine = make_opportunity(db_session, owner_id=rep.id)
    make_opportunity(db_session, owner_id=other.id)
    token = make_token(db_session, rep).secret
    response = client.get("/api/v1/opportunities", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == [mine.id]
