package iamapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/datadir"
)

// Where the CLI finds a node and its credentials by default.
const (
	defaultProfile = "ztgate"
	adminFile      = "admin.credentials" // written by "ztgate serve --dev"
	defaultRegion  = "us-east-1"
)

// globals are the flags every subcommand shares.
type globals struct {
	endpoint, dataDir, profile, region, output string
}

// Command returns "ztgate iam": a subcommand for each action of the IAM
// API, for people without the AWS CLI. Like the AWS CLI it prints the
// result as JSON and an error to standard error, exiting 1.
func Command() *cobra.Command {
	g := &globals{}
	cmd := &cobra.Command{
		Use:   "iam",
		Short: "Manage users, keys, roles, groups and policies through a node's IAM API",
		Long: `Call a ztgate node's IAM API, as "aws iam --endpoint-url ..." would.

Requests are signed with SigV4 (service iam) with the credentials in
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN or, when those
are not set or --profile is given, with the profile's keys in
AWS_SHARED_CREDENTIALS_FILE or else DATA_DIR/admin.credentials. Results are
printed as JSON; policy documents may be given inline or as file://PATH.`,
		Example: `  ztgate iam create-user alice
  ztgate iam create-access-key --user-name alice
  ztgate iam create-role deployer --assume-role-policy-document file://trust.json
  ztgate iam put-role-policy deployer --policy-name deploy --policy-document file://deploy.json
  ztgate iam simulate-principal-policy --policy-source-arn arn:zt:iam::000000000000:role/deployer --action-names s3:PutObject`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&g.endpoint, "endpoint-url", "", "the node's URL (default: http:// and the address in DATA_DIR/listen.addr)")
	f.StringVar(&g.dataDir, "data-dir", datadir.Default, "data directory of the node, for its address and admin.credentials")
	f.StringVar(&g.profile, "profile", defaultProfile, "the credentials profile to sign with")
	f.StringVar(&g.region, "region", defaultRegion, "the region to sign for")
	f.StringVar(&g.output, "output", "json", "the output format: json (the only one)")
	for _, name := range slices.Sorted(maps.Keys(ops)) {
		cmd.AddCommand(g.opCommand(ops[name]))
	}
	return cmd
}

// kebab spells an action or parameter as the AWS CLI does:
// "CreateAccessKey" is "create-access-key".
func kebab(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

func (g *globals) opCommand(o *op) *cobra.Command {
	use := kebab(o.action)
	args := cobra.NoArgs
	if o.arg != "" {
		use += " [" + strings.ToUpper(strings.ReplaceAll(kebab(o.arg), "-", "_")) + "]"
		args = cobra.MaximumNArgs(1)
	}
	cmd := &cobra.Command{Use: use, Short: o.short, Args: args}
	fl := cmd.Flags()
	for _, p := range o.params {
		name, usage := kebab(p.name), p.usage
		switch p.kind {
		case boolean:
			fl.Bool(name, false, usage)
		case list:
			fl.StringSlice(name, nil, usage)
		case docList, tags, contextEntries:
			fl.StringArray(name, nil, usage)
		default:
			fl.String(name, "", usage)
		}
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if g.output != "json" {
			return fmt.Errorf("--output %q: only json is supported", g.output)
		}
		form, err := formOf(cmd, o, args)
		if err != nil {
			return err
		}
		cl, err := g.client(cmd)
		if err != nil {
			return err
		}
		var result any
		if o.result != nil {
			result = o.result()
		}
		follow := o.paged && !fl.Changed("marker") && !fl.Changed("max-items")
		err = callAll(cmd, cl, o.action, form, result, follow)
		var e *Error
		if errors.As(err, &e) {
			fmt.Fprintf(cmd.ErrOrStderr(), "\nAn error occurred (%s) when calling the %s operation: %s\n", e.Code, o.action, e.Message)
			return e
		}
		if err != nil {
			return err
		}
		if result == nil {
			return nil
		}
		fillSlices(reflect.ValueOf(result))
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "    ")
		return enc.Encode(result)
	}
	return cmd
}

// formOf turns the command line into the request's parameters.
func formOf(cmd *cobra.Command, o *op, args []string) (url.Values, error) {
	fl := cmd.Flags()
	form := url.Values{}
	if len(args) == 1 {
		name := kebab(o.arg)
		if fl.Changed(name) {
			if v, _ := fl.GetString(name); v != args[0] {
				return nil, fmt.Errorf("%s given both as an argument and as --%s", o.arg, name)
			}
		}
		form.Set(o.arg, args[0])
	}
	var missing []string
	for _, p := range o.params {
		name := kebab(p.name)
		if !fl.Changed(name) {
			if p.required && !form.Has(p.name) {
				missing = append(missing, "--"+name)
			}
			continue
		}
		switch p.kind {
		case str, num:
			v, _ := fl.GetString(name)
			form.Set(p.name, v)
		case doc:
			v, _ := fl.GetString(name)
			d, err := readDocument(v)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", name, err)
			}
			form.Set(p.name, d)
		case boolean:
			v, _ := fl.GetBool(name)
			form.Set(p.name, strconv.FormatBool(v))
		case list:
			vs, _ := fl.GetStringSlice(name)
			setList(form, p.name, vs)
		case docList:
			vs, _ := fl.GetStringArray(name)
			for i, v := range vs {
				d, err := readDocument(v)
				if err != nil {
					return nil, fmt.Errorf("--%s: %w", name, err)
				}
				vs[i] = d
			}
			setList(form, p.name, vs)
		case tags:
			vs, _ := fl.GetStringArray(name)
			for i, v := range vs {
				k, val, err := parseTag(v)
				if err != nil {
					return nil, fmt.Errorf("--%s %q: %w", name, v, err)
				}
				at := p.name + ".member." + strconv.Itoa(i+1)
				form.Set(at+".Key", k)
				form.Set(at+".Value", val)
			}
		case contextEntries:
			vs, _ := fl.GetStringArray(name)
			for i, v := range vs {
				e, err := parseContextEntry(v)
				if err != nil {
					return nil, fmt.Errorf("--%s %q: %w", name, v, err)
				}
				at := p.name + ".member." + strconv.Itoa(i+1)
				form.Set(at+".ContextKeyName", e.Name)
				form.Set(at+".ContextKeyType", e.Type)
				setList(form, at+".ContextKeyValues", e.Values)
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the following arguments are required: %s", strings.Join(missing, ", "))
	}
	return form, nil
}

func setList(form url.Values, name string, vs []string) {
	if len(vs) == 0 {
		form.Set(name, "") // an empty list, as the AWS CLI sends one
		return
	}
	for i, v := range vs {
		form.Set(name+".member."+strconv.Itoa(i+1), v)
	}
}

// readDocument reads file://PATH, or returns the text given.
func readDocument(v string) (string, error) {
	path, ok := strings.CutPrefix(v, "file://")
	if !ok {
		return v, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// parseTag reads Key=K,Value=V (the AWS CLI's shorthand) or K=V.
func parseTag(s string) (key, value string, err error) {
	if strings.HasPrefix(s, "Key=") {
		rest := strings.TrimPrefix(s, "Key=")
		k, v, ok := strings.Cut(rest, ",Value=")
		if !ok {
			return rest, "", nil
		}
		return k, v, nil
	}
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", errors.New("want Key=K,Value=V or K=V")
	}
	return k, v, nil
}

// parseContextEntry reads the AWS CLI's shorthand:
// ContextKeyName=K,ContextKeyValues=V1,V2,ContextKeyType=T.
func parseContextEntry(s string) (contextEntry, error) {
	var e contextEntry
	field := ""
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		switch {
		case ok && k == "ContextKeyName":
			e.Name, field = v, k
		case ok && k == "ContextKeyType":
			e.Type, field = v, k
		case ok && k == "ContextKeyValues":
			e.Values, field = append(e.Values, v), k
		case field == "ContextKeyValues":
			e.Values = append(e.Values, part) // a further value
		default:
			return e, errors.New("want ContextKeyName=K,ContextKeyValues=V[,V...],ContextKeyType=T")
		}
	}
	if e.Name == "" {
		return e, errors.New("ContextKeyName is missing")
	}
	if e.Type == "" {
		e.Type = "string"
	}
	return e, nil
}

// callAll calls the action, and when follow is set, calls it again with
// each marker until the listing is complete, gathering the pages' items
// into result, as the AWS CLI does.
func callAll(cmd *cobra.Command, cl *client, action string, form url.Values, result any, follow bool) error {
	if err := cl.call(cmd.Context(), action, form, result); err != nil || !follow || result == nil {
		return err
	}
	acc := reflect.ValueOf(result).Elem()
	for pages := 1; ; pages++ {
		truncated, marker := acc.FieldByName("IsTruncated"), acc.FieldByName("Marker")
		if !truncated.IsValid() || !truncated.Bool() || marker.String() == "" {
			return nil
		}
		if pages == 10000 {
			return errors.New("gave up following markers after 10000 pages")
		}
		form.Set("Marker", marker.String())
		next := reflect.New(acc.Type())
		if err := cl.call(cmd.Context(), action, form, next.Interface()); err != nil {
			return err
		}
		for i := 0; i < acc.NumField(); i++ {
			if f := acc.Field(i); f.Kind() == reflect.Slice {
				f.Set(reflect.AppendSlice(f, next.Elem().Field(i)))
			}
		}
		truncated.SetBool(next.Elem().FieldByName("IsTruncated").Bool())
		marker.SetString(next.Elem().FieldByName("Marker").String())
	}
}

// fillSlices makes the nil lists the AWS CLI would print as [] empty, so
// that they print as [] rather than null.
func fillSlices(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			fillSlices(v.Elem())
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			fillSlices(v.Index(i))
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			if f.Kind() == reflect.Slice && f.IsNil() && !strings.Contains(t.Field(i).Tag.Get("json"), "omitempty") {
				f.Set(reflect.MakeSlice(f.Type(), 0, 0))
			}
			fillSlices(f)
		}
	}
}

// client builds the signing client from the flags and the environment.
func (g *globals) client(cmd *cobra.Command) (*client, error) {
	endpoint := g.endpoint
	if endpoint == "" {
		path := filepath.Join(g.dataDir, "listen.addr")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("no --endpoint-url, and the node's address cannot be read (is it running?): %w", err)
		}
		endpoint = "http://" + strings.TrimSpace(string(b))
	}
	creds, err := g.credentials(cmd)
	if err != nil {
		return nil, err
	}
	return &client{
		endpoint: strings.TrimRight(endpoint, "/"),
		creds:    creds,
		region:   g.region,
		http:     &http.Client{Timeout: time.Minute},
		signer:   v4.NewSigner(),
	}, nil
}

// credentials are the environment's keys, unless --profile is given, or
// else the profile's in the shared credentials file.
func (g *globals) credentials(cmd *cobra.Command) (aws.Credentials, error) {
	if !cmd.Flags().Changed("profile") {
		id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
		if id != "" && secret != "" {
			return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}, nil
		}
	}
	path := os.Getenv("AWS_SHARED_CREDENTIALS_FILE")
	if path == "" {
		path = filepath.Join(g.dataDir, adminFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, and %w", err)
	}
	defer f.Close()
	c, err := readProfile(f, g.profile)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// readProfile reads one profile of a shared credentials file.
func readProfile(r io.Reader, profile string) (aws.Credentials, error) {
	var c aws.Credentials
	found, in := false, false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[' && line[len(line)-1] == ']':
			name := strings.TrimSpace(line[1 : len(line)-1])
			name = strings.TrimSpace(strings.TrimPrefix(name, "profile "))
			in = name == profile
			found = found || in
			continue
		}
		if !in {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch v = strings.TrimSpace(v); strings.ToLower(strings.TrimSpace(k)) {
		case "aws_access_key_id":
			c.AccessKeyID = v
		case "aws_secret_access_key":
			c.SecretAccessKey = v
		case "aws_session_token":
			c.SessionToken = v
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	if !found {
		return c, fmt.Errorf("no profile %q", profile)
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return c, fmt.Errorf("profile %q lacks aws_access_key_id or aws_secret_access_key", profile)
	}
	return c, nil
}
