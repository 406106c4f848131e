resource "aws_s3_bucket" "logs" {
  bucket = "logs"
  # ruleid: tf-public-bucket
  acl    = "public-read"
}

resource "aws_s3_bucket_acl" "site" {
  bucket = aws_s3_bucket.logs.id
  # ruleid: tf-public-bucket
  acl    = "public-read-write"
}

resource "aws_s3_bucket_acl" "private" {
  bucket = aws_s3_bucket.logs.id
  # ok: tf-public-bucket
  acl    = "private"
}

resource "aws_s3_bucket" "legacy_grants" {
  bucket = "legacy"
  grant {
    type        = "Group"
    permissions = ["READ"]
    # ruleid: tf-public-bucket
    uri         = "http://acs.amazonaws.com/groups/global/AllUsers"
  }
  grant {
    type        = "Group"
    permissions = ["READ_ACP", "WRITE"]
    # ok: tf-public-bucket
    uri         = "http://acs.amazonaws.com/groups/s3/LogDelivery"
  }
}

resource "aws_s3_bucket_acl" "grantee" {
  bucket = aws_s3_bucket.logs.id
  access_control_policy {
    grant {
      grantee {
        type = "Group"
        # ruleid: tf-public-bucket
        uri  = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
      }
      permission = "READ"
    }
    grant {
      grantee {
        type = "CanonicalUser"
        # ok: tf-public-bucket
        id   = data.aws_canonical_user_id.current.id
      }
      permission = "FULL_CONTROL"
    }
    owner {
      id = data.aws_canonical_user_id.current.id
    }
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket = aws_s3_bucket.logs.id
  # ruleid: tf-public-bucket
  block_public_acls = false
  # ok: tf-public-bucket
  block_public_policy = true
  ignore_public_acls = true
  restrict_public_buckets = true
}

resource "google_storage_bucket_iam_member" "viewer" {
  bucket = "assets"
  role   = "roles/storage.objectViewer"
  # ruleid: tf-public-bucket
  member = "allUsers"
}

resource "google_storage_bucket_iam_member" "team" {
  bucket = "assets"
  role   = "roles/storage.objectViewer"
  # ok: tf-public-bucket
  member = "group:team@example.com"
}

resource "azurerm_storage_container" "data" {
  name = "data"
  # ruleid: tf-public-bucket
  container_access_type = "blob"
}
