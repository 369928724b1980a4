// Command manager runs localytics-operator: the controllers of
// imports.localytics.dev that turn ProfileImports and AudienceLists into
// Localytics Import API calls, within each account's budgets.
package main

import (
	"crypto/tls"
	"flag"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // exec and OIDC auth for kubeconfigs
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/endpoints"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/secrets"
	"github.com/localytics-operator/localytics-operator/internal/source"
)

// leaderElectionID is fixed so that every replica of the manager competes for
// the same lease.
const leaderElectionID = "localytics-operator.imports.localytics.dev"

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(importsv1alpha1.AddToScheme(scheme))
}

func main() {
	var (
		metricsAddr          string
		pprofAddr            string
		secureMetrics        bool
		enableHTTP2          bool
		probeAddr            string
		enableLeaderElection bool
		ambientStoreCreds    bool
		driftInterval        time.Duration
		allowedEndpoints     string
		watchNamespaces      string
		allowedStores        string
		requireSecretLabel   bool
		watchLabelSelector   string
		leaderElectionIDFlag string
		leaseDuration        time.Duration
		renewDeadline        time.Duration
		retryPeriod          time.Duration
		leaseNamespace       string
		uploadTimeout        time.Duration
		unknownCreateWait    time.Duration
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0",
		"The address the metrics endpoint binds to, such as :8443 (HTTPS) or :8080 (HTTP); 0 disables it.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0",
		"The address Go's profiling endpoints (/debug/pprof) bind to, such as 127.0.0.1:8082; 0 (the default) disables them. "+
			"Plain HTTP without authentication: bind it to loopback and reach it with kubectl port-forward.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS with authentication and authorization; false serves plain HTTP.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false,
		"Enable HTTP/2 for the metrics server. Off by default because of the HTTP/2 rapid reset and stream cancellation CVEs.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the health and readiness probes bind to.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Enable leader election, so that only one replica of the manager is active at a time.")
	flag.BoolVar(&ambientStoreCreds, "object-store-ambient-credentials", false,
		"Let ProfileImports and AudienceLists read objects from AWS S3, Google Cloud Storage and Azure Blob Storage without a secretRef, "+
			"with the operator's own credentials (the provider's default chain: the pod's role, GKE or Azure Workload Identity, a managed identity), "+
			"for the provider's own service only. Off by default: whoever may create a ProfileImport could read what the operator's identity can.")
	flag.DurationVar(&driftInterval, "drift-interval", 10*time.Minute,
		"How often AudienceLists are compared with what Localytics holds, to repair lists deleted or renamed outside the cluster. "+
			"One list-by-app call per account and app serves every list of the app in an interval.")
	flag.StringVar(&allowedEndpoints, "allowed-endpoints", endpoints.DefaultLocalytics,
		"The base URLs LocalyticsAccounts may use as spec.endpoint, comma-separated: credentials are sent nowhere else. "+
			"An entry without a port allows every port of its host; plain http only where an entry says http.")
	flag.StringVar(&allowedStores, "allowed-object-store-endpoints", "",
		"The base URLs of stores that ProfileImports and AudienceLists may name with an s3:// URL's ?endpoint= or an azblob:// URL's "+
			"protocol://domain, comma-separated: the store's Secret is sent nowhere else. Empty (the default) allows the providers' own "+
			"services only: AWS, Google Cloud Storage, Azure's public cloud. "+
			"An entry without a port allows every port of its host; plain http only where an entry says http.")
	flag.BoolVar(&requireSecretLabel, "require-secret-label", false,
		"Use only the Secrets labelled "+secrets.LabelUse+"="+secrets.LabelUseValue+", for LocalyticsAccounts and object stores alike. "+
			"Off by default: whoever may create these objects in a namespace may have the operator use any Secret of it.")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "",
		"The namespaces the operator watches and reconciles, comma-separated; empty watches all namespaces. "+
			"With a list, a Role in each of them is enough instead of a ClusterRole.")
	flag.StringVar(&watchLabelSelector, "watch-label-selector", "",
		"Reconcile only the ProfileImports, AudienceLists and LocalyticsAccounts this label selector matches, to run the operator as shards: "+
			controllers.ShardLabel+"=shard1 for a shard, '!"+controllers.ShardLabel+"' for the default shard. "+
			"Every shard reads every account, whose upload budget they share. Empty reconciles every object.")
	flag.StringVar(&leaderElectionIDFlag, "leader-election-id", "",
		"The name of the Lease the replicas compete for. Empty: "+leaderElectionID+", with a hash of --watch-label-selector for a shard, "+
			"so that each shard elects a leader of its own.")
	flag.StringVar(&leaseNamespace, "leader-election-namespace", "",
		"The namespace of the Lease. Empty: the pod's own namespace (required out of a cluster).")
	flag.DurationVar(&leaseDuration, "leader-election-lease-duration", 15*time.Second,
		"How long a replica waits, after the leader stopped renewing, before it takes the lease (a leader killed without a clean stop).")
	flag.DurationVar(&renewDeadline, "leader-election-renew-deadline", 10*time.Second,
		"How long the leader keeps trying to renew the lease before it gives up leading (and exits).")
	flag.DurationVar(&retryPeriod, "leader-election-retry-period", 2*time.Second,
		"How often replicas try to take or renew the lease.")
	flag.DurationVar(&uploadTimeout, "upload-timeout", controllers.DefaultUploadTimeout,
		"How long one upload (a profile file, an audience list's create or replace) may take. An upload the operator stopped during "+
			"(a restart, a failover) is sent again only once this has passed, so that two are never in flight at once; "+
			"the pod's terminationGracePeriodSeconds must exceed it by 3 minutes.")
	flag.DurationVar(&unknownCreateWait, "unknown-create-wait", controllers.DefaultUnknownCreateWait,
		"How long an AudienceList whose create's answer was lost looks for its list by name before creating it again: "+
			"longer than Localytics takes to finish a create's job.")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))

	namespaces, err := controllers.ParseWatchNamespaces(watchNamespaces)
	if err != nil {
		setupLog.Error(err, "invalid --watch-namespaces")
		os.Exit(1)
	}
	if err := (controllers.Timings{
		UploadTimeout: uploadTimeout, UnknownCreateWait: unknownCreateWait,
		LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, LeaderElectionRetryPeriod: retryPeriod,
	}).Check(); err != nil {
		setupLog.Error(err, "invalid flags")
		os.Exit(1)
	}
	shard, err := controllers.ParseWatchLabelSelector(watchLabelSelector)
	if err != nil {
		setupLog.Error(err, "invalid --watch-label-selector")
		os.Exit(1)
	}
	if leaderElectionIDFlag == "" {
		leaderElectionIDFlag = controllers.LeaderElectionID(leaderElectionID, shard)
	}
	clientOptions, cacheOptions := controllers.ManagerCacheOptions(namespaces, shard)

	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOptions := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
		TLSOpts:       tlsOpts,
	}
	if secureMetrics {
		metricsOptions.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOptions,
		HealthProbeBindAddress:  probeAddr,
		PprofBindAddress:        pprofAddr,
		LeaderElection:          enableLeaderElection,
		LeaderElectionID:        leaderElectionIDFlag,
		LeaderElectionNamespace: leaseNamespace,
		LeaseDuration:           &leaseDuration,
		RenewDeadline:           &renewDeadline,
		RetryPeriod:             &retryPeriod,
		// Release the lease on a clean stop so that a new replica takes over at once.
		LeaderElectionReleaseOnCancel: true,
		// On SIGTERM no new upload starts; the ones already sent run to
		// their end and their answers are recorded before the process exits.
		GracefulShutdownTimeout: ptr.To(controllers.ShutdownGraceFor(uploadTimeout)),
		// Secrets and ConfigMaps are never cached in full, their metadata
		// without annotations, labels or managedFields; the caches hold the
		// watched namespaces only (see controllers.ManagerCacheOptions).
		Client: clientOptions,
		Cache:  cacheOptions,
	})
	if err != nil {
		setupLog.Error(err, "unable to create the manager")
		os.Exit(1)
	}

	ctx := ctrl.SetupSignalHandler()
	clients := controllers.NewLocalyticsClients(localytics.WithUserAgent(controllers.ProcessUserAgent()))
	// One watchdog for every controller: the liveness probe fails while a
	// worker is stuck beyond every deadline of a reconcile.
	watchdog := controllers.NewWatchdog(uploadTimeout)
	if clients.AllowedEndpoints, err = endpoints.Parse(allowedEndpoints); err != nil {
		setupLog.Error(err, "invalid --allowed-endpoints")
		os.Exit(1)
	}
	secretPolicy := secrets.Policy{RequireLabel: requireSecretLabel}
	sourceOptions := source.Options{AmbientCredentials: ambientStoreCreds, SecretPolicy: secretPolicy}
	if allowedStores != "" {
		if sourceOptions.AllowedEndpoints, err = endpoints.Parse(allowedStores); err != nil {
			setupLog.Error(err, "invalid --allowed-object-store-endpoints")
			os.Exit(1)
		}
	}
	if err := (&controllers.LocalyticsAccountReconciler{
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Recorder:     mgr.GetEventRecorder("localyticsaccount-controller"),
		Clients:      clients,
		Watchdog:     watchdog,
		SecretPolicy: secretPolicy,
		Shard:        shard,
	}).SetupWithManager(ctx, mgr); err != nil {
		setupLog.Error(err, "unable to set up the controller", "controller", "LocalyticsAccount")
		os.Exit(1)
	}
	if err := (&controllers.ProfileImportReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Recorder:      mgr.GetEventRecorder("profileimport-controller"),
		Clients:       clients,
		Watchdog:      watchdog,
		SourceOptions: sourceOptions,
		Shard:         shard,
		UploadTimeout: uploadTimeout,
	}).SetupWithManager(ctx, mgr); err != nil {
		setupLog.Error(err, "unable to set up the controller", "controller", "ProfileImport")
		os.Exit(1)
	}

	if err := (&controllers.AudienceListReconciler{
		Client:            mgr.GetClient(),
		APIReader:         mgr.GetAPIReader(),
		Recorder:          mgr.GetEventRecorder("audiencelist-controller"),
		Clients:           clients,
		Watchdog:          watchdog,
		DriftInterval:     driftInterval,
		SourceOptions:     sourceOptions,
		Shard:             shard,
		UploadTimeout:     uploadTimeout,
		UnknownCreateWait: unknownCreateWait,
	}).SetupWithManager(ctx, mgr); err != nil {
		setupLog.Error(err, "unable to set up the controller", "controller", "AudienceList")
		os.Exit(1)
	}

	if err := mgr.AddHealthzCheck("workers", watchdog.Check); err != nil {
		setupLog.Error(err, "unable to set up the health check")
		os.Exit(1)
	}
	// Not ready until the caches have synced: a manager whose watches fail
	// (missing RBAC, an API server out of reach) receives no traffic.
	if err := mgr.AddReadyzCheck("readyz", controllers.CacheSynced(mgr.GetCache())); err != nil {
		setupLog.Error(err, "unable to set up the ready check")
		os.Exit(1)
	}

	setupLog.Info("starting the manager")
	if err := mgr.Start(ctx); err != nil {
		setupLog.Error(err, "the manager stopped with an error")
		os.Exit(1)
	}
}
