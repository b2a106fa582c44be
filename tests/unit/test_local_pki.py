import ipaddress

from cryptography import x509

from trainyard.local import pki
from trainyard.local.cluster import kubeconfig_dict, kwok_node


def test_generated_certs_chain_to_the_ca_with_the_right_names(tmp_path):
    p = pki.generate(tmp_path, ips=["10.0.0.5"])
    ca = x509.load_pem_x509_certificate(p.ca.read_bytes())
    server = x509.load_pem_x509_certificate(p.cert("apiserver").read_bytes())
    server.verify_directly_issued_by(ca)
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(i) for i in sans.get_values_for_type(x509.IPAddress)}
    assert {"127.0.0.1", "10.96.0.1", "10.0.0.5"} <= ips
    assert "kubernetes.default.svc.cluster.local" in sans.get_values_for_type(x509.DNSName)
    admin = x509.load_pem_x509_certificate(p.cert("admin").read_bytes())
    admin.verify_directly_issued_by(ca)
    orgs = [a.value for a in admin.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    cm = x509.load_pem_x509_certificate(p.cert("controller-manager").read_bytes())
    assert cm.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == "system:kube-controller-manager"
    assert oct(p.key("admin").stat().st_mode & 0o777) == "0o600"
    assert p.sa_pub.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_issue_server_cert_for_a_kubelet(tmp_path):
    p = pki.generate(tmp_path)
    pki.issue_server_cert(p, "kubelet", "node-1", ips=["10.1.0.2"], dns=["node-1"])
    cert = x509.load_pem_x509_certificate(p.cert("kubelet").read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(p.ca.read_bytes()))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.1.0.2")]


def test_kubeconfig_and_kwok_node_as_data(tmp_path):
    p = pki.Pki(tmp_path)
    kc = kubeconfig_dict("https://127.0.0.1:6443", p, "admin")
    assert kc["clusters"][0]["cluster"] == {"server": "https://127.0.0.1:6443", "certificate-authority": str(p.ca)}
    assert kc["users"][0]["user"]["client-key"] == str(tmp_path / "admin.key")
    node = kwok_node("n1", cpu="4", labels={"pool": "a"})
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert node["metadata"]["labels"]["pool"] == "a" and node["metadata"]["labels"]["type"] == "kwok"
    assert node["status"]["allocatable"]["cpu"] == "4"
    assert node["spec"]["taints"] == [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]
