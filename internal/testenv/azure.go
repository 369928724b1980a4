package testenv

import (
	"context"
	"net"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
)

// Azurite is a running Azure Storage emulator (its blob service), installed
// by hack/install-azurite.sh, keeping its blobs in a temporary directory, on
// a loopback port, with the development account every Azurite has.
type Azurite struct {
	// Domain is host:port, the azblob:// URL's ?domain=.
	Domain string
	// Account and Key are the development account's name and shared key,
	// published by Microsoft for Azurite.
	Account, Key string
	dir          string
	server       *server
}

// AzuriteBlob is the path of the azurite-blob command: $AZURITE or the first
// version under bin/azurite.
func AzuriteBlob() (string, error) {
	return findTool("AZURITE", "azurite/*/node_modules/.bin/azurite-blob", "azure-emulator")
}

// StartAzurite starts an empty emulator. Stop it when done.
func StartAzurite() (*Azurite, error) {
	bin, err := AzuriteBlob()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "azurite-")
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	a := &Azurite{
		Domain:  addr,
		Account: "devstoreaccount1",
		Key:     "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
		dir:     dir,
	}
	a.server, err = startServer("azurite", bin,
		[]string{"--blobHost", host, "--blobPort", port, "--location", dir, "--silent", "--skipApiVersionCheck"},
		nil, "http://"+addr+"/"+a.Account)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return a, nil
}

// Stop stops the emulator and removes its directory.
func (a *Azurite) Stop() error {
	a.server.stop()
	return os.RemoveAll(a.dir)
}

// ServiceURL is the blob service's URL of the development account.
func (a *Azurite) ServiceURL() string { return "http://" + a.Domain + "/" + a.Account }

// URL is the azblob:// URL of a blob in this emulator, as a source names it.
func (a *Azurite) URL(container, key string) string {
	return "azblob://" + container + "/" + key + "?protocol=http&domain=" + a.Domain + "&localemu=true"
}

// Client is a client of the development account.
func (a *Azurite) Client() (*azblob.Client, error) {
	cred, err := azblob.NewSharedKeyCredential(a.Account, a.Key)
	if err != nil {
		return nil, err
	}
	return azblob.NewClientWithSharedKeyCredential(a.ServiceURL(), cred, nil)
}

// Put writes a blob, creating its container first if need be (gocloud.dev's
// writer would panic on a missing one).
func (a *Azurite) Put(ctx context.Context, container, key string, body []byte) error {
	c, err := a.Client()
	if err != nil {
		return err
	}
	if _, err := c.CreateContainer(ctx, container, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return err
	}
	_, err = c.UploadBuffer(ctx, container, key, body, &azblob.UploadBufferOptions{BlockSize: 4 << 20})
	return err
}

// Delete removes a blob.
func (a *Azurite) Delete(ctx context.Context, container, key string) error {
	c, err := a.Client()
	if err != nil {
		return err
	}
	_, err = c.DeleteBlob(ctx, container, key, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil
	}
	return err
}

// SAS is a service SAS token of a container of the development account,
// valid for a day, with the permissions given (such as Read).
func (a *Azurite) SAS(container string, permissions sas.ContainerPermissions) (string, error) {
	cred, err := azblob.NewSharedKeyCredential(a.Account, a.Key)
	if err != nil {
		return "", err
	}
	q, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		ExpiryTime:    time.Now().Add(24 * time.Hour),
		Permissions:   permissions.String(),
		ContainerName: container,
	}.SignWithSharedKey(cred)
	if err != nil {
		return "", err
	}
	return q.Encode(), nil
}
