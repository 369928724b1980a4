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
		if loc.domain == "" && loc.protocol == "" && !loc.localEmulator {
			return "" // Azure's public cloud
		}
		return protocolOf(loc.protocol) + "://" + domainOf(loc.domain)
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

// parseAzureParams reads the parameters of an azblob:// URL.
func parseAzureParams(loc *objectLocation, q url.Values) error {
	loc.account, loc.domain, loc.protocol = q.Get("account"), q.Get("domain"), q.Get("protocol")
	if loc.account != "" && !azureAccountName.MatchString(loc.account) {
		return &InvalidError{Field: urlField, Message: "has an account that is not a storage account's name (3 to 24 lowercase letters and digits)"}
	}
	if loc.domain != "" {
		// A host and a port, nothing else: not echoed.
		if d, err := url.Parse("//" + loc.domain); err != nil || d.Host != loc.domain || d.User != nil || loc.domain == "" {
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
	// protocol, domain and emulator address the service (see serviceURL).
	protocol, domain string
	emulator         bool
	account          string
	// key is the account's shared key, sas a SAS token; neither: the
	// operator's own identity.
	key, sas string
}

// containerURL is the URL of a container: the account is a subdomain of
// Azure's domains, and the first part of the path of an emulator's.
func (s azureService) containerURL(name string) string {
	host := s.account + "." + s.domain
	if s.emulator {
		host = s.domain + "/" + s.account
	}
	return s.protocol + "://" + host + "/" + url.PathEscape(name)
}

// azureServiceOf works out the service from the URL and the Secret.
func azureServiceOf(loc objectLocation, secret *storeSecret, opts Options) (azureService, error) {
	s := azureService{protocol: loc.protocol, domain: loc.domain, emulator: loc.localEmulator, account: loc.account}
	account := func(a, from string) error {
		if s.account != "" && a != "" && a != s.account {
			return secret.invalid(from, "names another storage account than the URL's ?account=")
		}
		if a != "" {
			s.account = a
		}
		return nil
	}
	if secret != nil {
		if cs := string(secret.data[SecretKeyAzureConnectionString]); cs != "" {
			fields := parseConnectionString(cs)
			if err := account(fields["AccountName"], SecretKeyAzureConnectionString); err != nil {
				return s, err
			}
			s.key, s.sas = fields["AccountKey"], fields["SharedAccessSignature"]
			if loc.domain == "" && loc.protocol == "" && !loc.localEmulator {
				if err := s.endpointsOf(fields, secret, opts); err != nil {
					return s, err
				}
			}
			if s.key == "" && s.sas == "" {
				return s, secret.invalid(SecretKeyAzureConnectionString, "holds neither an AccountKey nor a SharedAccessSignature")
			}
		} else {
			if err := account(string(secret.data[SecretKeyAzureAccount]), SecretKeyAzureAccount); err != nil {
				return s, err
			}
			s.key, s.sas = string(secret.data[SecretKeyAzureKey]), strings.TrimPrefix(string(secret.data[SecretKeyAzureSASToken]), "?")
			if s.key == "" && s.sas == "" {
				return s, &NotFoundError{Kind: KindSecret, Namespace: secret.namespace, Name: secret.name, Key: SecretKeyAzureKey}
			}
		}
	}
	if s.account == "" {
		if secret == nil {
			return s, &InvalidError{Field: urlField, Message: "names no storage account: add ?account=NAME"}
		}
		return s, &NotFoundError{Kind: KindSecret, Namespace: secret.namespace, Name: secret.name, Key: SecretKeyAzureAccount}
	}
	if !azureAccountName.MatchString(s.account) {
		return s, secret.invalid(SecretKeyAzureAccount, "is not a storage account's name (3 to 24 lowercase letters and digits)")
	}
	s.protocol, s.domain = protocolOf(s.protocol), domainOf(s.domain)
	s.emulator = s.emulator || strings.HasPrefix(s.domain, "127.0.0.1") || strings.HasPrefix(s.domain, "localhost")
	return s, nil
}

// endpointsOf takes the service from a connection string's BlobEndpoint or
// EndpointSuffix: outside Azure's public cloud it must be allowed, as an
// URL's would, before anything is sent to it.
func (s *azureService) endpointsOf(fields map[string]string, secret *storeSecret, opts Options) error {
	s.protocol = fields["DefaultEndpointsProtocol"]
	if suffix := fields["EndpointSuffix"]; suffix != "" {
		s.domain = "blob." + suffix
	}
	if be := fields["BlobEndpoint"]; be != "" {
		u, err := url.Parse(be)
		if err != nil || !webScheme(u.Scheme) || u.Host == "" || u.User != nil {
			return secret.invalid(SecretKeyAzureConnectionString, "has a BlobEndpoint that is not an http:// or https:// URL")
		}
		s.protocol, s.domain = u.Scheme, u.Host
		if path := strings.Trim(u.Path, "/"); path != "" {
			s.emulator = true // http://127.0.0.1:10000/devstoreaccount1
			if s.account == "" {
				s.account = path
			}
		} else if acct, rest, ok := strings.Cut(u.Host, "."); ok && (s.account == "" || s.account == acct) {
			s.account, s.domain = acct, rest
		}
	}
	if s.domain == "" || (s.domain == azurePublicDomain && protocolOf(s.protocol) == azureDefaultProtocol) {
		return nil
	}
	endpoint := protocolOf(s.protocol) + "://" + s.domain
	if !opts.AllowedEndpoints.Allows(endpoint) {
		return &EndpointNotAllowedError{Endpoint: origin(endpoint)}
	}
	return nil
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
			return nil, secret.invalid(SecretKeyAzureKey, "is not an account key (base64)")
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
