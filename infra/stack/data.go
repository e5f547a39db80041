package stack

import (
	"fmt"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/lambdafn"
)

// DatabaseName is the database a new cluster creates.
const DatabaseName = "framebroker"

// DatabasePort is PostgreSQL's (a bring-your-own database must listen
// on it).
const DatabasePort = 5432

// AccessLogDays is how long the media bucket's access logs are kept.
const AccessLogDays = 365

// Aurora Serverless v2 capacity: 0 ACU lets the cluster pause when nothing
// connects for AutoPauseMinutes (README "Idle cost"); the first connection
// after a pause waits for it to resume (~15 s).
const (
	MinACU           = 0
	MaxACU           = 8
	AutoPauseMinutes = 10
)

// IdleSessionSeconds closes database sessions idle that long (see the
// cluster's parameters).
const IdleSessionSeconds = 300

// ResumeWait bounds a cold start's wait for the database when the cluster
// may be paused: resuming takes ~15 s, more after a long pause (the API's
// functions time out at 29 s). It is the runtime's FRAMEBROKER_DATABASE_WAIT.
const ResumeWait = "25s"

// EnvDatabaseWait is the runtime's setting of that bound
// (coldstart.EnvDatabaseWait).
const EnvDatabaseWait = "FRAMEBROKER_DATABASE_WAIT"

// RotationDays is how often Secrets Manager rotates the database
// passwords (hosted single-user rotation: each role changes its own
// password; the Lambdas re-read the secret when a login fails).
const RotationDays = 30

// TempPrefix is the media bucket prefix of temporary objects (worker
// reports, scratch), expired by the lifecycle rule.
const TempPrefix = "tmp/"

// data is the key, the bucket, the database and the secrets.
type data struct {
	key awskms.IKey
	// cluster is nil with an existing database.
	cluster awsrds.DatabaseCluster
	media   awss3.Bucket
	// accessLogs receives the media bucket's server access logs.
	accessLogs awss3.Bucket
	// ownerSecret holds the schema owner's credentials (the cluster's master
	// user, or the customer's secret); only the migrate Lambda reads it.
	ownerSecret awssecretsmanager.ISecret
	// appSecret holds framebroker_app's credentials and the endpoint; every
	// request-serving Lambda reads it at cold start.
	appSecret awssecretsmanager.ISecret
	// ingress is the bring-your-own database's ingress rule for the
	// Lambdas (nil otherwise).
	ingress awscdk.CfnResource
	// cronSecret authenticates EventBridge's calls to the cron Lambda.
	cronSecret awssecretsmanager.ISecret
	// keyringSecret holds the signing keyring (keyring.json document),
	// generated on first deploy by the keyring-init custom resource.
	keyringSecret awssecretsmanager.Secret
	// operatorSecrets is the operator's JSON secret of FRAMEBROKER_*
	// settings (nil without the context value).
	operatorSecrets awssecretsmanager.ISecret
	// purposeSecrets are the operator's per-purpose secrets
	// (Props.OperatorSecretArns), by purpose.
	purposeSecrets map[string]awssecretsmanager.ISecret
}

func newData(st awscdk.Stack, p Props, n *network) *data {
	d := &data{}
	if p.KeyArn != "" {
		d.key = awskms.Key_FromKeyArn(st, jsii.String("CustomerKey"), jsii.String(p.KeyArn))
	} else {
		d.key = awskms.NewKey(st, jsii.String("Key"), &awskms.KeyProps{
			Description:       jsii.String("Framebroker data key (media, database, secrets)"),
			EnableKeyRotation: jsii.Bool(true),
			RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		})
	}
	// Server access logs of the media bucket (who read or changed which
	// evidence object). The log bucket uses SSE-S3: S3 log delivery cannot
	// write with a KMS key.
	d.accessLogs = awss3.NewBucket(st, jsii.String("MediaAccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Versioned:         jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{
			{Id: jsii.String("expire-access-logs"), Expiration: awscdk.Duration_Days(jsii.Number(AccessLogDays)),
				NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(1))},
		},
	})
	var cors *[]*awss3.CorsRule
	if len(p.CorsOrigins) > 0 {
		// Browsers upload with presigned PUTs and read with presigned GETs,
		// from the configured origins only.
		cors = &[]*awss3.CorsRule{{
			AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_PUT, awss3.HttpMethods_GET},
			AllowedOrigins: jsii.Strings(p.CorsOrigins...),
			AllowedHeaders: jsii.Strings("content-type", "content-length", "x-amz-checksum-sha256", "x-amz-sdk-checksum-algorithm"),
			ExposedHeaders: jsii.Strings("ETag", "x-amz-version-id"),
			MaxAge:         jsii.Number(3600),
		}}
	}
	d.media = awss3.NewBucket(st, jsii.String("Media"), &awss3.BucketProps{
		ServerAccessLogsBucket: d.accessLogs,
		ServerAccessLogsPrefix: jsii.String("media/"),
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		MinimumTLSVersion:      jsii.Number(1.2),
		Encryption:             awss3.BucketEncryption_KMS,
		EncryptionKey:          d.key,
		BucketKeyEnabled:       jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		// Encode outputs are evidence (hashes in the trail and the ledger):
		// an overwrite or delete keeps the previous version.
		Versioned:     jsii.Bool(true),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{
			{Id: jsii.String("abort-incomplete-uploads"), AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1))},
			{Id: jsii.String("expire-temporary"), Prefix: jsii.String(TempPrefix), Expiration: awscdk.Duration_Days(jsii.Number(1))},
			{Id: jsii.String("expire-noncurrent"), NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(30))},
		},
		Cors: cors,
	})

	d.cronSecret = awssecretsmanager.NewSecret(st, jsii.String("CronSecret"), &awssecretsmanager.SecretProps{
		Description:          jsii.String("Framebroker: X-Cron-Secret of the EventBridge → cron Lambda calls"),
		EncryptionKey:        d.key,
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{PasswordLength: jsii.Number(48), ExcludePunctuation: jsii.Bool(true)},
	})
	for purpose, arn := range p.OperatorSecretArns {
		if d.purposeSecrets == nil {
			d.purposeSecrets = map[string]awssecretsmanager.ISecret{}
		}
		d.purposeSecrets[purpose] = awssecretsmanager.Secret_FromSecretAttributes(st, jsii.String("OperatorSecret-"+purpose), &awssecretsmanager.SecretAttributes{
			SecretCompleteArn: jsii.String(arn), EncryptionKey: d.key,
		})
	}
	if p.SecretsArn != "" {
		d.operatorSecrets = awssecretsmanager.Secret_FromSecretAttributes(st, jsii.String("OperatorSecrets"), &awssecretsmanager.SecretAttributes{
			SecretCompleteArn: jsii.String(p.SecretsArn), EncryptionKey: d.key,
		})
	}
	// The keyring: created empty (a random placeholder), filled with
	// Ed25519 and HMAC keys by the keyring-init custom resource inside AWS,
	// so no key material is ever in the template or on the deploying
	// machine.
	d.keyringSecret = awssecretsmanager.NewSecret(st, jsii.String("KeyringSecret"), &awssecretsmanager.SecretProps{
		Description:   jsii.String("Framebroker: signing keyring (keyring.json document; filled on first deploy, rotated with `framebroker keyring rotate`)"),
		EncryptionKey: d.key,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})

	// The endpoint goes into framebroker_app's secret, so a Lambda needs
	// exactly one secret to connect.
	var host, port, dbname *string
	if p.DatabaseSecretArn != "" {
		// The customer's secret is taken to be encrypted with keyArn (or the
		// AWS managed key): the migrate function's kms:Decrypt is on that key
		// (observed: without it the migrate function could not read it).
		d.ownerSecret = awssecretsmanager.Secret_FromSecretAttributes(st, jsii.String("OwnerSecret"), &awssecretsmanager.SecretAttributes{
			SecretCompleteArn: jsii.String(p.DatabaseSecretArn), EncryptionKey: d.key,
		})
		field := func(f string) *string {
			return d.ownerSecret.SecretValueFromJson(jsii.String(f)).UnsafeUnwrap()
		}
		host, port, dbname = field("host"), field("port"), field("dbname")
		if p.DatabaseSecurityGroupID != "" {
			// An explicit resource, so the migrate custom resource can wait
			// for it (observed: it ran before the rule existed).
			d.ingress = awsec2.NewCfnSecurityGroupIngress(st, jsii.String("DatabaseIngress"), &awsec2.CfnSecurityGroupIngressProps{
				GroupId:               jsii.String(p.DatabaseSecurityGroupID),
				IpProtocol:            jsii.String("tcp"),
				FromPort:              jsii.Number(DatabasePort),
				ToPort:                jsii.Number(DatabasePort),
				SourceSecurityGroupId: n.lambdaSG.SecurityGroupId(),
				Description:           jsii.String("Framebroker Lambdas"),
			})
		}
	} else {
		dbSG := awsec2.NewSecurityGroup(st, jsii.String("DatabaseSG"), &awsec2.SecurityGroupProps{
			Vpc: n.vpc, Description: jsii.String("Framebroker database: Lambdas only"), AllowAllOutbound: jsii.Bool(false),
		})
		dbSG.AddIngressRule(n.lambdaSG, awsec2.Port_Tcp(jsii.Number(5432)), jsii.String("Framebroker Lambdas"), jsii.Bool(false))
		cluster := awsrds.NewDatabaseCluster(st, jsii.String("Database"), &awsrds.DatabaseClusterProps{
			Engine: awsrds.DatabaseClusterEngine_AuroraPostgres(&awsrds.AuroraPostgresClusterEngineProps{
				Version: awsrds.AuroraPostgresEngineVersion_VER_16_6(),
			}),
			Credentials:                   awsrds.Credentials_FromGeneratedSecret(jsii.String("framebroker_owner"), &awsrds.CredentialsBaseOptions{EncryptionKey: d.key}),
			DefaultDatabaseName:           jsii.String(DatabaseName),
			Writer:                        awsrds.ClusterInstance_ServerlessV2(jsii.String("writer"), nil),
			ServerlessV2MinCapacity:       jsii.Number(MinACU),
			ServerlessV2MaxCapacity:       jsii.Number(MaxACU),
			ServerlessV2AutoPauseDuration: awscdk.Duration_Minutes(jsii.Number(AutoPauseMinutes)),
			Vpc:                           n.vpc,
			VpcSubnets:                    n.isolated,
			SecurityGroups:                &[]awsec2.ISecurityGroup{dbSG},
			StorageEncrypted:              jsii.Bool(true),
			StorageEncryptionKey:          d.key,
			IamAuthentication:             jsii.Bool(false),
			DeletionProtection:            jsii.Bool(true),
			RemovalPolicy:                 awscdk.RemovalPolicy_SNAPSHOT,
			Backup:                        &awsrds.BackupProps{Retention: awscdk.Duration_Days(jsii.Number(14))},
			// Idle sessions are closed after IdleSessionSeconds: a frozen
			// Lambda's pooled connection would otherwise stay open and keep
			// the cluster from ever pausing (Aurora pauses only without
			// connections); the pool replaces a closed connection on its
			// next use (db.Begin's retry on a fresh connection).
			Parameters: &map[string]*string{
				"rds.force_ssl":        jsii.String("1"),
				"idle_session_timeout": jsii.String(fmt.Sprint(IdleSessionSeconds * 1000)),
			},
		})
		d.cluster = cluster
		d.ownerSecret = cluster.Secret()
		host = cluster.ClusterEndpoint().Hostname()
		port = awscdk.Token_AsString(cluster.ClusterEndpoint().Port(), nil)
		dbname = jsii.String(DatabaseName)
	}
	tpl := awscdk.Stack_Of(st).ToJsonString(&map[string]any{
		"engine": "postgres", "username": db.AppRole, "host": host, "port": port, "dbname": dbname,
	}, nil)
	d.appSecret = awssecretsmanager.NewSecret(st, jsii.String("AppDatabaseSecret"), &awssecretsmanager.SecretProps{
		Description:   jsii.String("Framebroker: credentials of " + db.AppRole + " (no BYPASSRLS); set by the migrate custom resource"),
		EncryptionKey: d.key,
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: tpl,
			GenerateStringKey:    jsii.String("password"),
			PasswordLength:       jsii.Number(40),
			ExcludePunctuation:   jsii.Bool(true),
		},
	})
	rotate := func(id string, s awssecretsmanager.ISecret) {
		s.AddRotationSchedule(jsii.String(id), &awssecretsmanager.RotationScheduleOptions{
			AutomaticallyAfter: awscdk.Duration_Days(jsii.Number(RotationDays)),
			HostedRotation: awssecretsmanager.HostedRotation_PostgreSqlSingleUser(&awssecretsmanager.SingleUserHostedRotationOptions{
				Vpc: n.vpc, VpcSubnets: n.private,
				// The Lambdas' group: it reaches the database and Secrets
				// Manager, nothing else is open to it.
				SecurityGroups: &[]awsec2.ISecurityGroup{n.lambdaSG},
			}),
		})
	}
	rotate("AppDatabaseRotation", d.appSecret)
	if d.cluster != nil {
		// A bring-your-own database's owner secret is the customer's to
		// rotate.
		rotate("OwnerDatabaseRotation", d.ownerSecret)
	}
	return d
}

// operatorSecretArns are the operator secrets function may read, by the
// environment variable that names each: the one JSON secret (secretsArn)
// if the operator gave one, else the per-purpose secrets of the
// function's purposes (lambdafn.FunctionSecrets) that the operator gave.
func (d *data) operatorSecretArns(function string) map[string]*string {
	out := map[string]*string{}
	if d.operatorSecrets != nil {
		out[lambdafn.EnvSecretsArn] = d.operatorSecrets.SecretArn()
		return out
	}
	for _, s := range lambdafn.OperatorSecrets {
		if sec := d.purposeSecrets[s.Purpose]; sec != nil && slices.Contains(lambdafn.FunctionSecrets[function], s.Purpose) {
			out[s.ArnEnv] = sec.SecretArn()
		}
	}
	return out
}

// secretArn is the ARN of one of the stack's secrets (nil: the operator
// secret without the secretsArn context value).
func (d *data) secretArn(s Secret) *string {
	var sec awssecretsmanager.ISecret
	switch s {
	case SecretAppDatabase:
		sec = d.appSecret
	case SecretOwnerDatabase:
		sec = d.ownerSecret
	case SecretCron:
		sec = d.cronSecret
	case SecretKeyring:
		sec = d.keyringSecret
	case SecretOperator:
		sec = d.operatorSecrets
	}
	if sec == nil {
		return nil
	}
	return sec.SecretArn()
}
