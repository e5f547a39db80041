package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/shared/db"
)

// DatabaseName is the database a new cluster creates.
const DatabaseName = "framebroker"

// TempPrefix is the media bucket prefix of temporary objects (worker
// reports, scratch), expired by the lifecycle rule.
const TempPrefix = "tmp/"

// data is the key, the bucket, the database and the secrets.
type data struct {
	key awskms.IKey
	// cluster is nil with an existing database.
	cluster awsrds.DatabaseCluster
	media   awss3.Bucket
	// ownerSecret holds the schema owner's credentials (the cluster's master
	// user, or the customer's secret); only the migrate Lambda reads it.
	ownerSecret awssecretsmanager.ISecret
	// appSecret holds framebroker_app's credentials and the endpoint; every
	// request-serving Lambda reads it at cold start.
	appSecret awssecretsmanager.ISecret
	// cronSecret authenticates EventBridge's calls to the cron Lambda.
	cronSecret awssecretsmanager.ISecret
	// operatorSecrets is the operator's JSON secret of FRAMEBROKER_*
	// settings (nil without the context value).
	operatorSecrets awssecretsmanager.ISecret
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
	d.media = awss3.NewBucket(st, jsii.String("Media"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		Encryption:        awss3.BucketEncryption_KMS,
		EncryptionKey:     d.key,
		BucketKeyEnabled:  jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		// Encode outputs are evidence (hashes in the trail and the ledger):
		// an overwrite or delete keeps the previous version.
		Versioned:     jsii.Bool(true),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{
			{Id: jsii.String("abort-incomplete-uploads"), AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1))},
			{Id: jsii.String("expire-temporary"), Prefix: jsii.String(TempPrefix), Expiration: awscdk.Duration_Days(jsii.Number(1))},
			{Id: jsii.String("expire-noncurrent"), NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(30))},
		},
		// Browsers upload with presigned PUTs.
		Cors: &[]*awss3.CorsRule{{
			AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_PUT, awss3.HttpMethods_GET},
			AllowedOrigins: jsii.Strings("*"),
			AllowedHeaders: jsii.Strings("*"),
			MaxAge:         jsii.Number(3600),
		}},
	})

	d.cronSecret = awssecretsmanager.NewSecret(st, jsii.String("CronSecret"), &awssecretsmanager.SecretProps{
		Description:          jsii.String("Framebroker: X-Cron-Secret of the EventBridge → cron Lambda calls"),
		EncryptionKey:        d.key,
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{PasswordLength: jsii.Number(48), ExcludePunctuation: jsii.Bool(true)},
	})
	if p.SecretsArn != "" {
		d.operatorSecrets = awssecretsmanager.Secret_FromSecretCompleteArn(st, jsii.String("OperatorSecrets"), jsii.String(p.SecretsArn))
	}

	// The endpoint goes into framebroker_app's secret, so a Lambda needs
	// exactly one secret to connect.
	var host, port, dbname *string
	if p.DatabaseSecretArn != "" {
		d.ownerSecret = awssecretsmanager.Secret_FromSecretCompleteArn(st, jsii.String("OwnerSecret"), jsii.String(p.DatabaseSecretArn))
		field := func(f string) *string {
			return d.ownerSecret.SecretValueFromJson(jsii.String(f)).UnsafeUnwrap()
		}
		host, port, dbname = field("host"), field("port"), field("dbname")
		if p.DatabaseSecurityGroupID != "" {
			sg := awsec2.SecurityGroup_FromSecurityGroupId(st, jsii.String("DatabaseSG"), jsii.String(p.DatabaseSecurityGroupID), nil)
			sg.AddIngressRule(n.lambdaSG, awsec2.Port_Tcp(jsii.Number(5432)), jsii.String("Framebroker Lambdas"), jsii.Bool(false))
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
			Credentials:             awsrds.Credentials_FromGeneratedSecret(jsii.String("framebroker_owner"), &awsrds.CredentialsBaseOptions{EncryptionKey: d.key}),
			DefaultDatabaseName:     jsii.String(DatabaseName),
			Writer:                  awsrds.ClusterInstance_ServerlessV2(jsii.String("writer"), nil),
			ServerlessV2MinCapacity: jsii.Number(0.5),
			ServerlessV2MaxCapacity: jsii.Number(8),
			Vpc:                     n.vpc,
			VpcSubnets:              n.isolated,
			SecurityGroups:          &[]awsec2.ISecurityGroup{dbSG},
			StorageEncrypted:        jsii.Bool(true),
			StorageEncryptionKey:    d.key,
			IamAuthentication:       jsii.Bool(false),
			DeletionProtection:      jsii.Bool(true),
			RemovalPolicy:           awscdk.RemovalPolicy_SNAPSHOT,
			Backup:                  &awsrds.BackupProps{Retention: awscdk.Duration_Days(jsii.Number(14))},
			Parameters:              &map[string]*string{"rds.force_ssl": jsii.String("1")},
		})
		d.cluster = cluster
		d.ownerSecret = cluster.Secret()
		host = cluster.ClusterEndpoint().Hostname()
		port = awscdk.Token_AsString(cluster.ClusterEndpoint().Port(), nil)
		dbname = jsii.String(DatabaseName)
	}
	tpl := awscdk.Stack_Of(st).ToJsonString(&map[string]any{
		"username": db.AppRole, "host": host, "port": port, "dbname": dbname,
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
	return d
}
