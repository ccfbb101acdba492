"""A pack registered through a symlink (`current -> releases/N`, re-pointed to deploy) keeps
the symlink as its path: registering it again after a re-point is an upgrade, not a 409."""

from __future__ import annotations

from pathlib import Path

import httpx


def release(root: Path, name: str, actions: tuple[str, ...]) -> Path:
    pack = root / "releases" / name
    (pack / "actions").mkdir(parents=True)
    (pack / "pack.yaml").write_text("ref: lp\nversion: 1.0.0\n")
    for action in actions:
        (pack / "actions" / f"{action}.yaml").write_text(
            f"ref: lp.{action}\nrunner_type: shell\nentry_point: {action}.sh\n")
        (pack / "actions" / f"{action}.sh").write_text(f"echo {name}\n")
    return pack


def repoint(link: Path, target: Path) -> None:
    tmp = link.with_name(link.name + ".new")
    tmp.symlink_to(target)
    tmp.replace(link)


async def register(api: httpx.AsyncClient, path: Path) -> httpx.Response:
    return await api.post("/packs/register", json={"path": str(path)})


async def test_registering_again_through_a_repointed_symlink_registers_the_new_release(
        api: httpx.AsyncClient, tmp_path: Path) -> None:
    link = tmp_path / "packs" / "lnk"
    link.parent.mkdir()
    link.symlink_to(release(tmp_path, "1", ("step",)))
    first = await register(api, link)
    assert first.status_code == 200, first.text
    assert first.json()["data"]["path"] == str(link)
    repoint(link, release(tmp_path, "2", ("step", "extra")))  # the old release stays on disk
    second = await register(api, link)
    assert second.status_code == 200, second.text
    assert second.json()["data"]["path"] == str(link)
    assert second.json()["data"]["actions"] == ["lp.extra", "lp.step"]
    # A client that resolves the path sends the release itself: the pack keeps following the link.
    three = release(tmp_path, "3", ("step",))
    repoint(link, three)
    third = await register(api, three)
    assert third.status_code == 200, third.text
    assert third.json()["data"]["path"] == str(link) and third.json()["data"]["actions"] == ["lp.step"]


async def refused(api: httpx.AsyncClient, path: Path) -> str:
    """Registering `path` is a 409: its message."""
    response = await register(api, path)
    assert response.status_code == 409, response.text
    return response.json()["error"]["message"]


async def test_a_conflict_that_stays_names_the_symlink(api: httpx.AsyncClient, tmp_path: Path) -> None:
    one, two = release(tmp_path, "1", ("step",)), release(tmp_path, "2", ("step",))
    link = tmp_path / "lnk"
    link.symlink_to(two)
    # Registered by the release itself (as before symlinks were kept), then through the link.
    assert (await register(api, one)).status_code == 200
    message = await refused(api, link)
    assert message.startswith(f"pack 'lp' is registered from {one}, which still holds it: {link} "
                              f"(a symlink to {two}) has the same ref."), message
    assert (f"If the symlink was re-pointed at a new release of the pack: the pack was registered "
            f"from {one} itself, not through the symlink; delete it and register {link} once") in message
    # Registered through the link, then an old release by itself.
    assert (await api.delete("/packs/lp")).status_code == 204
    assert (await register(api, link)).status_code == 200
    message = await refused(api, one)
    assert message.startswith(f"pack 'lp' is registered from {link} (a symlink to {two}), which still "
                              f"holds it: {one} has the same ref."), message
