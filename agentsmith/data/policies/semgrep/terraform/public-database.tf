resource "aws_db_instance" "main" {
  engine = "postgres"
  # ruleid: tf-database-publicly-accessible
  publicly_accessible = true
}

resource "aws_db_instance" "replica" {
  engine = "postgres"
  # ok: tf-database-publicly-accessible
  publicly_accessible = false
}

resource "google_sql_database_instance" "main" {
  name = "main"
  settings {
    ip_configuration {
      authorized_networks {
        name  = "everyone"
        # ruleid: tf-database-publicly-accessible
        value = "0.0.0.0/0"
      }
      authorized_networks {
        name  = "office"
        # ok: tf-database-publicly-accessible
        value = "203.0.113.7/32"
      }
    }
  }
}

resource "azurerm_postgresql_firewall_rule" "all" {
  name             = "all"
  start_ip_address = "0.0.0.0"
  # ruleid: tf-database-publicly-accessible
  end_ip_address   = "255.255.255.255"
}
