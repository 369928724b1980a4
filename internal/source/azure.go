package source

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// Azure Blob Storage: azblob://container/blob, in the storage account that
// ?account= or the Secret names, at Azure's public cloud
// (https://ACCOUNT.blob.core.windows.net) unless ?domain=, ?protocol= or
// ?localemu= (Azurite) say otherwise: those need a Secret, and the service
// (protocol://domain) must be among the operator's allowed endpoints, as
// for S3's ?endpoint=.

// The keys of an Azure store's Secret: the storage account and one of its
// shared key, a SAS token, or a connection string (which may hold both the
// account and its key or SAS, and the service's endpoints). The names are the
// Azure tools' environment variables.
const (
	SecretKeyAzureAccount          = "AZURE_STORAGE_ACCOUNT"
	SecretKeyAzureKey              = "AZURE_STORAGE_KEY"
	SecretKeyAzureSASToken         = "AZURE_STORAGE_SAS_TOKEN"
	SecretKeyAzureConnectionString = "AZURE_STORAGE_CONNECTION_STRING"
)

// azurePublicDomain is the blob service's domain in Azure's public cloud,
// reached over azureDefaultProtocol.
const (
	azurePublicDomain    = "blob.core.windows.net"
	azureDefaultProtocol = "https"
)

// azureAccountName is what Azure allows a storage account to be named.
var azureAccountName = regexp.MustCompile(`^[a-z0-9]{3,24}$`)

var azureDriver = driver{
	params: []string{"account", "domain", "protocol", "localemu"},
	parse:  parseAzureParams,
	endpoint: func(loc objectLocation) string {
		// Checked before the Secret is read when the URL alone says where
		// requests go (an emulator's, or an account it names); otherwise
		// azureServiceOf checks, once the Secret names the account, before
		// any request.
		if !elsewhere(loc) {
			return ""
		}
		return urlServiceBase(loc, loc.account)
	},
	open: openAzureBucket,
	revision: func(r *blob.Reader) string {
		var out azblobblob.DownloadStreamResponse
		if !r.As(&out) || out.ETag == nil {
			return ""
		}
		return string(*out.ETag)
	},
	attrsRevision: func(a *blob.Attributes) string { return a.ETag },
	classify: func(loc objectLocation, secretRef *importsv1alpha1.LocalObjectReference, err error) error {
		// gocloud.dev maps AuthenticationFailed only: a SAS or a role
		// without read access is a 403 of another code.
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			switch {
			case deniedStatus(re.StatusCode):
				return accessDenied(loc, secretRef)
			case re.ErrorCode == "ContainerNotFound" || re.ErrorCode == "ResourceNotFound":
				return &NotFoundError{Kind: KindObject, Name: loc.display()}
			}
		}
		return nil
	},
}

// elsewhere tells a URL that names another service than Azure's public
// cloud: it needs a Secret.
func elsewhere(loc objectLocation) bool {
	return loc.domain != "" || loc.protocol != "" || loc.localEmulator
}

// protocolOf is the protocol of the service, https unless the URL says.
func protocolOf(p string) string {
	if p == "" {
		return azureDefaultProtocol
	}
	return p
}

func domainOf(d string) string {
	if d == "" {
		return azurePublicDomain
	}
	return d
}

// urlServiceBase is the base URL of the blob service of account as the
// URL's parameters name it: the account is a subdomain of Azure's domains,
// and the first part of the path of an emulator's. Empty without an account
// (for an Azure domain).
func urlServiceBase(loc objectLocation, account string) string {
	protocol, domain := protocolOf(loc.protocol), domainOf(loc.domain)
	if loc.localEmulator || strings.HasPrefix(domain, "127.0.0.1") || strings.HasPrefix(domain, "localhost") {
		return protocol + "://" + domain + "/" + account
	}
	if account == "" {
		return ""
	}
	return protocol + "://" + account + "." + domain
}

// parseAzureParams reads the parameters of an azblob:// URL.
func parseAzureParams(loc *objectLocation, q url.Values) error {
	loc.account, loc.domain, loc.protocol = q.Get("account"), q.Get("domain"), q.Get("protocol")
	if loc.account != "" && !azureAccountName.MatchString(loc.account) {
		return &InvalidError{Field: urlField, Message: "has an account that is not a storage account's name (3 to 24 lowercase letters and digits)"}
	}
	if loc.domain != "" {
		// A host and a port, nothing else: not echoed.
		if d, err := url.Parse("//" + loc.domain); err != nil || d.Host != loc.domain || d.User != nil {
			return &InvalidError{Field: urlField, Message: "has a domain that is not a host name (and port), as in blob.core.windows.net"}
		}
	}
	if loc.protocol != "" && !webScheme(loc.protocol) {
		return &InvalidError{Field: urlField, Message: "has a protocol that is neither http nor https"}
	}
	if v := q.Get("localemu"); v != "" {
		var err error
		if loc.localEmulator, err = strconv.ParseBool(v); err != nil {
			return &InvalidError{Field: urlField, Message: "has a localemu that is neither true nor false"}
		}
	}
	return nil
}

// azureService is where a container's requests go and how they are signed.
type azureService struct {
	// base is the blob service's URL, without a trailing slash.
	base    string
	account string
	// key is the account's shared key, sas a SAS token; neither: the
	// operator's own identity. keyFrom is the Secret's key the key is in.
	key, sas, keyFrom string
}

// containerURL is the URL of a container of the service.
func (s azureService) containerURL(name string) string {
	return s.base + "/" + url.PathEscape(name)
}

// azureServiceOf works out the service from the URL and the Secret, and
// checks that its credentials may go there: to Azure's public cloud over
// https, or to a base the operator allows.
func azureServiceOf(loc objectLocation, secret *storeSecret, opts Options) (azureService, error) {
	s := azureService{account: loc.account}
	var blobEndpoint, protocol, suffix string
	if secret != nil {
		var err error
		if blobEndpoint, protocol, suffix, err = s.credentialsOf(secret); err != nil {
			return s, err
		}
	}
	if s.account == "" {
		if secret == nil {
			return s, &InvalidError{Field: urlField, Message: "names no storage account: add ?account=NAME"}
		}
		return s, &NotFoundError{Kind: KindSecret, Namespace: secret.namespace, Name: secret.name, Key: SecretKeyAzureAccount}
	}
	switch {
	case elsewhere(loc):
		// The URL's parameters win over a connection string's.
		s.base = urlServiceBase(loc, s.account)
	case blobEndpoint != "":
		s.base = strings.TrimRight(blobEndpoint, "/")
	default:
		domain := azurePublicDomain
		if suffix != "" {
			domain = "blob." + suffix
		}
		s.base = protocolOf(protocol) + "://" + s.account + "." + domain
	}
	if s.base != azureDefaultProtocol+"://"+s.account+"."+azurePublicDomain && !opts.AllowedEndpoints.Allows(s.base) {
		return s, &EndpointNotAllowedError{Endpoint: origin(s.base)}
	}
	return s, nil
}

// credentialsOf takes the account, its key or SAS token, and a connection
// string's endpoints from the Secret; the account must agree with the
// URL's, if it names one.
func (s *azureService) credentialsOf(secret *storeSecret) (blobEndpoint, protocol, suffix string, err error) {
	account := func(a, from string) error {
		switch {
		case a == "":
			return nil
		case !azureAccountName.MatchString(a):
			return secret.invalid(from, "does not name a storage account (3 to 24 lowercase letters and digits)")
		case s.account != "" && a != s.account:
			return secret.invalid(from, "names another storage account than the URL's ?account=")
		}
		s.account = a
		return nil
	}
	sasOf := func(token, from string) error {
		token = strings.TrimPrefix(strings.TrimSpace(token), "?")
		if _, err := url.ParseQuery(token); err != nil || strings.ContainsAny(token, "#/ ") {
			// Not echoed: the token is the secret.
			return secret.invalid(from, "is not a SAS token (the query part of a SAS URL)")
		}
		s.sas = token
		return nil
	}
	if cs := string(secret.data[SecretKeyAzureConnectionString]); cs != "" {
		const from = SecretKeyAzureConnectionString
		fields := parseConnectionString(cs)
		if err := account(fields["AccountName"], from); err != nil {
			return "", "", "", err
		}
		s.key, s.keyFrom = fields["AccountKey"], from
		if err := sasOf(fields["SharedAccessSignature"], from); err != nil {
			return "", "", "", err
		}
		if s.key == "" && s.sas == "" {
			return "", "", "", secret.invalid(from, "holds neither an AccountKey nor a SharedAccessSignature")
		}
		protocol, suffix, blobEndpoint = fields["DefaultEndpointsProtocol"], fields["EndpointSuffix"], fields["BlobEndpoint"]
		if protocol != "" && !webScheme(protocol) {
			return "", "", "", secret.invalid(from, "has a DefaultEndpointsProtocol that is neither http nor https")
		}
		if suffix != "" {
			if d, err := url.Parse("//blob." + suffix); err != nil || d.Host != "blob."+suffix || d.User != nil {
				return "", "", "", secret.invalid(from, "has an EndpointSuffix that is not a domain")
			}
		}
		if blobEndpoint != "" {
			u, err := url.Parse(blobEndpoint)
			if err != nil || !webScheme(u.Scheme) || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				return "", "", "", secret.invalid(from, "has a BlobEndpoint that is not an http:// or https:// URL")
			}
		}
		return blobEndpoint, protocol, suffix, nil
	}
	if err := account(string(secret.data[SecretKeyAzureAccount]), SecretKeyAzureAccount); err != nil {
		return "", "", "", err
	}
	s.key, s.keyFrom = string(secret.data[SecretKeyAzureKey]), SecretKeyAzureKey
	if err := sasOf(string(secret.data[SecretKeyAzureSASToken]), SecretKeyAzureSASToken); err != nil {
		return "", "", "", err
	}
	if s.key == "" && s.sas == "" {
		return "", "", "", &NotFoundError{Kind: KindSecret, Namespace: secret.namespace, Name: secret.name, Key: SecretKeyAzureKey}
	}
	return "", "", "", nil
}

// parseConnectionString reads Key=Value;Key=Value.
func parseConnectionString(cs string) map[string]string {
	fields := map[string]string{}
	for part := range strings.SplitSeq(cs, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
			fields[k] = v
		}
	}
	return fields
}

// azureHTTPClient sends the requests of every container opened.
var azureHTTPClient = &http.Client{Transport: storeTransport}

// openAzureBucket opens an Azure container with the Secret's key or SAS
// token, or with the operator's own identity (Azure's default chain:
// Workload Identity, a managed identity).
func openAzureBucket(ctx context.Context, loc objectLocation, secret *storeSecret, opts Options) (*blob.Bucket, error) {
	s, err := azureServiceOf(loc, secret, opts)
	if err != nil {
		return nil, err
	}
	clientOpts := &container.ClientOptions{}
	clientOpts.Transport = azureHTTPClient
	containerURL := s.containerURL(loc.bucket)
	var c *container.Client
	switch {
	case s.key != "":
		cred, err := container.NewSharedKeyCredential(s.account, s.key)
		if err != nil {
			// Not echoed: the error may quote the key.
			return nil, secret.invalid(s.keyFrom, "holds an account key that is not base64")
		}
		c, err = container.NewClientWithSharedKeyCredential(containerURL, cred, clientOpts)
		if err != nil {
			return nil, err
		}
	case s.sas != "":
		if c, err = container.NewClientWithNoCredential(containerURL+"?"+s.sas, clientOpts); err != nil {
			return nil, err
		}
	default:
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, err
		}
		if c, err = container.NewClient(containerURL, cred, clientOpts); err != nil {
			return nil, err
		}
	}
	return azureblob.OpenBucket(ctx, c, nil)
}
