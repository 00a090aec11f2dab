// Package kubernetes_test checks the Kubernetes manifests: each decodes
// into the Kubernetes API types with no field those types lack, and the
// Deployment has the properties the README promises. It is a module of
// its own so that the Kubernetes API modules stay out of Mayfly's.
package kubernetes_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// strict decodes JSON into v as the API server's strict field validation
// does: field names match case-sensitively (encoding/json would take
// "readinessprobe" for readinessProbe), and an unknown or duplicate field
// is an error.
func strict(j []byte, v any) error {
	strictErrs, err := sigsjson.UnmarshalStrict(j, v)
	return errors.Join(append(strictErrs, err)...)
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// decode decodes every document of a YAML stream into its API type, by
// apiVersion and kind, refusing duplicate keys and unknown fields.
func decode(text []byte) ([]any, error) {
	var out []any
	for _, doc := range docSep.Split(string(text), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		j, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, err
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := json.Unmarshal(j, &meta); err != nil {
			return nil, err
		}
		var obj any
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "v1 Secret":
			obj = &corev1.Secret{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		default:
			return nil, fmt.Errorf("%s %s: not a kind these manifests use", meta.APIVersion, meta.Kind)
		}
		if err := strict(j, obj); err != nil {
			return nil, fmt.Errorf("%s: %w", meta.Kind, err)
		}
		out = append(out, obj)
	}
	return out, nil
}

// objects are the manifests' objects, by kind.
type objects struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	pdb        *policyv1.PodDisruptionBudget
	secret     *corev1.Secret
}

func load(t *testing.T) objects {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var o objects
	for _, f := range files {
		if f == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decode(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(objs) != 1 {
			t.Fatalf("%s: %d objects; want one a file", f, len(objs))
		}
		switch v := objs[0].(type) {
		case *appsv1.Deployment:
			o.deployment = v
		case *corev1.Service:
			o.service = v
		case *policyv1.PodDisruptionBudget:
			o.pdb = v
		case *corev1.Secret:
			o.secret = v
		}
	}
	if o.deployment == nil || o.service == nil || o.pdb == nil || o.secret == nil {
		t.Fatalf("want a Deployment, a Service, a PodDisruptionBudget and a Secret; got %+v", o)
	}
	return o
}

// TestStrictDecoding shows that decode refuses what the API would not
// take: a misspelt field, a duplicate key, a kind out of place.
func TestStrictDecoding(t *testing.T) {
	good := "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n    - port: 80\n"
	if _, err := decode([]byte(good)); err != nil {
		t.Fatalf("decode(a valid Service): %v", err)
	}
	for _, bad := range []string{
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  port: 80\n",
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  name: y\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - name: x\n          readinessprobe: {}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n    - port: 80\n      port: 81\n",
	} {
		if _, err := decode([]byte(bad)); err == nil {
			t.Errorf("decode(%q) took it; want an error", bad)
		}
	}
}

// TestDeployment: three replicas, non-root with a read-only root file
// system and no capabilities, probes on /healthz and /readyz, the store URL
// from the Secret, the root key a read-only file from the same Secret.
func TestDeployment(t *testing.T) {
	o := load(t)
	d := o.deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v; want 3", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers; want one", len(pod.Containers))
	}
	c := pod.Containers[0]

	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("want a pod and a container securityContext")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod runs as non-root %v, user %v; want non-root and a non-zero uid", psc.RunAsNonRoot, psc.RunAsUser)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccomp %+v; want RuntimeDefault", psc.SeccompProfile)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("want readOnlyRootFilesystem")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("want allowPrivilegeEscalation: false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities %+v; want drop ALL, add none", sc.Capabilities)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("want automountServiceAccountToken: false: Mayfly calls no Kubernetes API")
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Error("want enableServiceLinks: false: a Service named mayfly would put MAYFLY_* variables in serve's environment")
	}

	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
	}

	if len(c.Ports) != 1 || c.Ports[0].Name != "http" {
		t.Fatalf("ports %+v; want one named http", c.Ports)
	}
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: %+v; want an HTTP GET of %s", name, p, path)
			return
		}
		if p.HTTPGet.Path != path || p.HTTPGet.Port.String() != c.Ports[0].Name {
			t.Errorf("%s probe: GET %s on port %s; want %s on %s", name, p.HTTPGet.Path, p.HTTPGet.Port.String(), path, c.Ports[0].Name)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("startup", c.StartupProbe, "/healthz")

	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	store := env["MAYFLY_STORE"]
	if store.Value != "" || store.ValueFrom == nil || store.ValueFrom.SecretKeyRef == nil {
		t.Fatalf("MAYFLY_STORE %+v; want it from a Secret", store)
	}
	ref := store.ValueFrom.SecretKeyRef
	if ref.Name != o.secret.Name || o.secret.StringData[ref.Key] == "" {
		t.Errorf("MAYFLY_STORE from Secret %s key %s; secret.example.yaml is %s with keys %v", ref.Name, ref.Key, o.secret.Name, keys(o.secret.StringData))
	}
	if env["MAYFLY_ISSUER"].Value == "" {
		t.Error("no MAYFLY_ISSUER: replicas must share one issuer, and the default names the pod's own address")
	}

	// The root key: a file in a read-only mount of a Secret volume.
	rootKey := env["MAYFLY_ROOT_KEY_FILE"].Value
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	found := false
	for _, m := range c.VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, rootKey)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		found = true
		v := volumes[m.Name]
		if !m.ReadOnly || v.Secret == nil {
			t.Errorf("root key %s is in mount %s (read-only %v) of %+v; want a read-only Secret volume", rootKey, m.MountPath, m.ReadOnly, v.VolumeSource)
			continue
		}
		if v.Secret.SecretName != o.secret.Name {
			t.Errorf("root key from Secret %s; want %s", v.Secret.SecretName, o.secret.Name)
		}
		var items []string
		for _, it := range v.Secret.Items {
			items = append(items, it.Key)
			if it.Path == rel && o.secret.StringData[it.Key] == "" {
				t.Errorf("root key from key %s, which secret.example.yaml does not have", it.Key)
			}
		}
		if !slices.Equal(items, []string{"root.key"}) {
			t.Errorf("the root key volume holds keys %q; want root.key alone, not the store URL", items)
		}
		if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o037 != 0 {
			t.Errorf("root key mode %o; want readable by no one but its owner and group", v.Secret.DefaultMode)
		}
	}
	if !found {
		t.Errorf("MAYFLY_ROOT_KEY_FILE %q is in no volume mount", rootKey)
	}
	dataMounted := false
	for _, m := range c.VolumeMounts {
		dataMounted = dataMounted || (m.MountPath == env["MAYFLY_DATA"].Value && !m.ReadOnly)
	}
	if !dataMounted {
		t.Errorf("MAYFLY_DATA %q is not a writable mount; the root file system is read-only", env["MAYFLY_DATA"].Value)
	}

	// The Service and the PodDisruptionBudget find these pods.
	labels := d.Spec.Template.Labels
	for k, v := range d.Spec.Selector.MatchLabels {
		if labels[k] != v {
			t.Errorf("Deployment selector %s=%s does not match its pods", k, v)
		}
	}
	for k, v := range o.service.Spec.Selector {
		if labels[k] != v {
			t.Errorf("Service selector %s=%s does not match the pods", k, v)
		}
	}
	if len(o.service.Spec.Ports) != 1 || o.service.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports %+v; want one to the pods' http port", o.service.Spec.Ports)
	}
	for k, v := range o.pdb.Spec.Selector.MatchLabels {
		if labels[k] != v {
			t.Errorf("PodDisruptionBudget selector %s=%s does not match the pods", k, v)
		}
	}
	if m := o.pdb.Spec.MinAvailable; m == nil || m.IntValue() < 2 || int32(m.IntValue()) >= *d.Spec.Replicas {
		t.Errorf("PodDisruptionBudget minAvailable %v; want at least 2 and fewer than the replicas", m)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestKustomization: kustomization.yaml applies every manifest but the
// Secret's example, and, where kubectl is installed, what it builds
// decodes as strictly as the files.
func TestKustomization(t *testing.T) {
	b, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
		Images     []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	if err := strict(j, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	files, _ := filepath.Glob("*.yaml")
	var want []string
	for _, f := range files {
		if f != "kustomization.yaml" && f != "secret.example.yaml" {
			want = append(want, f)
		}
	}
	got := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources %q; want %q", got, want)
	}

	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed: kustomization.yaml was not built")
	}
	out, err := exec.Command(kubectl, "kustomize", ".").Output()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v", err)
	}
	objs, err := decode(out)
	if err != nil {
		t.Fatalf("kubectl kustomize: %v", err)
	}
	if len(objs) != len(want) {
		t.Errorf("kubectl kustomize built %d objects; want %d", len(objs), len(want))
	}
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok && len(k.Images) == 1 {
			if img := d.Spec.Template.Spec.Containers[0].Image; img != k.Images[0].NewName+":"+k.Images[0].NewTag {
				t.Errorf("kustomized image %q; want the kustomization's", img)
			}
		}
	}
}
