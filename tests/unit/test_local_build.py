"""The wrapper modules `trainyard local` builds upstream binaries from, as data."""

from pathlib import Path

from trainyard.local import build, versions


def test_staging_modules_are_replaced_by_their_published_versions(tmp_path):
    (tmp_path / "go.mod").write_text(
        "module k8s.io/kubernetes\n\ngo 1.26.0\n\nrequire (\n"
        "\tgithub.com/spf13/cobra v1.10.0\n\tk8s.io/api v0.0.0\n\tk8s.io/client-go v0.0.0\n"
        "\tk8s.io/utils v0.0.0-20251002143259-bc988d571ff4\n)\n\n"
        "replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n)\n"
    )
    assert build.staging_replaces(tmp_path, "v1.36.3") == {"k8s.io/api": "v0.36.3", "k8s.io/client-go": "v0.36.3"}


def test_wrapper_go_mod_and_tools_file():
    text = build.wrapper_go_mod(versions.KUBERNETES, "1.26.0", {"k8s.io/api": "v0.36.3"})
    assert "require k8s.io/kubernetes v1.36.3" in text
    assert "\tk8s.io/api => k8s.io/api v0.36.3" in text and "go 1.26.0" in text
    tools = build.wrapper_tools_go(versions.KUBERNETES)
    assert tools.startswith("//go:build tools")
    assert '_ "k8s.io/kubernetes/cmd/kube-apiserver"' in tools and '_ "k8s.io/kubernetes/cmd/kubectl"' in tools
    assert "replace" not in build.wrapper_go_mod(versions.ETCD, "1.26.0", {})


def test_kubernetes_binaries_carry_their_version():
    assert "-X k8s.io/component-base/version.gitVersion=v1.36.3" in versions.KUBERNETES.ldflags
    assert "-X k8s.io/component-base/version.gitMinor=36" in versions.KUBERNETES.ldflags


def test_every_binary_has_one_pinned_build():
    seen = {}
    for b in versions.ALL_BUILDS:
        assert b.version.startswith("v")
        for name in b.binaries:
            assert name not in seen, f"{name} built by both {seen[name]} and {b.name}"
            seen[name] = b.name
    assert versions.build_for_binary("etcd") is versions.ETCD


def test_cache_is_keyed_by_version_and_needs_the_stamp(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINYARD_CACHE", str(tmp_path))
    d = build.build_dir(versions.ETCD)
    assert d == tmp_path / "bin" / f"etcd-{versions.ETCD_VERSION}"
    d.mkdir(parents=True)
    (d / "etcd").write_text("")
    assert not build.is_built(versions.ETCD), "a build interrupted before its stamp is not cached"
    (d / build.STAMP).write_text("{}")
    assert build.is_built(versions.ETCD)


def test_cache_root_defaults(monkeypatch):
    monkeypatch.delenv("TRAINYARD_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/x")
    assert build.cache_root() == Path("/x/trainyard")
