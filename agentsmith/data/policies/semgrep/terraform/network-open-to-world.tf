resource "aws_security_group" "web" {
  name = "web"
  ingress {
    from_port = 22
    to_port   = 22
    protocol  = "tcp"
    # ruleid: tf-ingress-open-to-world
    cidr_blocks = ["0.0.0.0/0"]
  }
  ingress {
    from_port = 443
    to_port   = 443
    protocol  = "tcp"
    # ok: tf-ingress-open-to-world
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    from_port = 0
    to_port   = 0
    protocol  = "-1"
    # ok: tf-ingress-open-to-world
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "internal" {
  ingress {
    from_port = 22
    to_port   = 22
    protocol  = "tcp"
    # ok: tf-ingress-open-to-world
    cidr_blocks = ["10.0.0.0/8"]
  }
}

resource "aws_security_group" "wide_open" {
  ingress {
    # ruleid: tf-ingress-open-to-world
    cidr_blocks = ["10.0.0.0/8", "0.0.0.0/0"]
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
  }
}

resource "aws_security_group" "range" {
  ingress {
    from_port = 1024
    to_port   = 65535
    protocol  = "tcp"
    # ruleid: tf-ingress-open-to-world
    ipv6_cidr_blocks = ["::/0"]
  }
  ingress {
    from_port = 222
    to_port   = 222
    protocol  = "tcp"
    # ok: tf-ingress-open-to-world
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group_rule" "ssh_v6" {
  type = "ingress"
  from_port = 22
  to_port = 22
  protocol = "tcp"
  # ruleid: tf-ingress-open-to-world
  ipv6_cidr_blocks = ["::/0"]
  security_group_id = aws_security_group.web.id
}

resource "aws_security_group_rule" "rdp" {
  # ruleid: tf-ingress-open-to-world
  cidr_blocks       = ["0.0.0.0/0"]
  from_port         = 3389
  to_port           = 3389
  protocol          = "tcp"
  security_group_id = aws_security_group.web.id
  type              = "ingress"
}

resource "aws_security_group_rule" "http" {
  type              = "ingress"
  from_port         = 80
  to_port           = 80
  protocol          = "tcp"
  # ok: tf-ingress-open-to-world
  cidr_blocks       = ["0.0.0.0/0"]
  security_group_id = aws_security_group.web.id
}

resource "aws_vpc_security_group_ingress_rule" "db" {
  security_group_id = aws_security_group.web.id
  # ruleid: tf-ingress-open-to-world
  cidr_ipv4 = "0.0.0.0/0"
  from_port = 5432
  to_port = 5432
  ip_protocol = "tcp"
}

resource "aws_vpc_security_group_ingress_rule" "everything_v6" {
  security_group_id = aws_security_group.web.id
  # ruleid: tf-ingress-open-to-world
  cidr_ipv6   = "::/0"
  ip_protocol = "-1"
}

resource "aws_vpc_security_group_ingress_rule" "https" {
  security_group_id = aws_security_group.web.id
  # ok: tf-ingress-open-to-world
  cidr_ipv4   = "0.0.0.0/0"
  from_port   = 443
  to_port     = 443
  ip_protocol = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.web.id
  # ok: tf-ingress-open-to-world
  cidr_ipv4   = "0.0.0.0/0"
  ip_protocol = "-1"
}

resource "aws_security_group" "bastion_attr" {
  name = "bastion"
  ingress = [{
    from_port        = 22
    to_port          = 22
    protocol         = "tcp"
    # ruleid: tf-ingress-open-to-world
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = []
    description      = "ssh"
    prefix_list_ids  = []
    security_groups  = []
    self             = false
  }, {
    from_port        = 443
    to_port          = 443
    protocol         = "tcp"
    # ok: tf-ingress-open-to-world
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = []
    description      = "https"
    prefix_list_ids  = []
    security_groups  = []
    self             = false
  }]
}

resource "aws_security_group" "dynamic_ssh" {
  name = "dynamic"
  dynamic "ingress" {
    for_each = [22, 3389]
    content {
      from_port = ingress.value
      to_port   = ingress.value
      protocol  = "tcp"
      # ruleid: tf-ingress-open-to-world
      cidr_blocks = ["0.0.0.0/0"]
    }
  }
  dynamic "ingress" {
    for_each = [80, 443]
    content {
      from_port = ingress.value
      to_port   = ingress.value
      protocol  = "tcp"
      # ok: tf-ingress-open-to-world
      cidr_blocks = ["0.0.0.0/0"]
    }
  }
  dynamic "egress" {
    for_each = [0]
    content {
      from_port = 0
      to_port   = 0
      protocol  = "-1"
      # ok: tf-ingress-open-to-world
      cidr_blocks = ["0.0.0.0/0"]
    }
  }
}

resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id
  ingress {
    from_port = 3306
    to_port   = 3306
    protocol  = "tcp"
    # ruleid: tf-ingress-open-to-world
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group_rule" "egress_all" {
  type              = "egress"
  from_port         = 0
  to_port           = 0
  protocol          = "-1"
  # ok: tf-ingress-open-to-world
  cidr_blocks       = ["0.0.0.0/0"]
  security_group_id = aws_security_group.web.id
}

resource "google_compute_firewall" "allow_ssh" {
  name    = "allow-ssh"
  network = "default"
  source_ranges = ["0.0.0.0/0"]
  allow {
    # ruleid: tf-firewall-open-to-world
    protocol = "tcp"
    ports    = ["22", "80"]
  }
}

resource "google_compute_firewall" "allow_everything" {
  name    = "allow-everything"
  network = "default"
  source_ranges = ["0.0.0.0/0"]
  allow {
    # ruleid: tf-firewall-open-to-world
    protocol = "all"
  }
}

resource "google_compute_firewall" "web" {
  name    = "web"
  network = "default"
  source_ranges = ["0.0.0.0/0"]
  allow {
    # ok: tf-firewall-open-to-world
    protocol = "tcp"
    ports    = ["80", "443"]
  }
}

resource "google_compute_firewall" "office" {
  name    = "office"
  network = "default"
  source_ranges = ["203.0.113.0/24"]
  allow {
    # ok: tf-firewall-open-to-world
    protocol = "tcp"
    ports    = ["22"]
  }
}

resource "azurerm_network_security_rule" "rdp" {
  name      = "rdp"
  direction = "Inbound"
  access    = "Allow"
  protocol  = "Tcp"
  destination_port_range = "3389"
  # ruleid: tf-firewall-open-to-world
  source_address_prefix = "*"
}

resource "azurerm_network_security_rule" "https" {
  name      = "https"
  direction = "Inbound"
  access    = "Allow"
  protocol  = "Tcp"
  destination_port_range = "443"
  # ok: tf-firewall-open-to-world
  source_address_prefix = "Internet"
}

resource "azurerm_network_security_group" "nsg" {
  name = "nsg"
  security_rule {
    name                   = "ssh"
    direction              = "Inbound"
    access                 = "Allow"
    protocol               = "Tcp"
    destination_port_range = "22"
    # ruleid: tf-firewall-open-to-world
    source_address_prefix  = "*"
  }
  security_rule {
    name                   = "deny-all"
    direction              = "Inbound"
    access                 = "Deny"
    protocol               = "*"
    destination_port_range = "*"
    # ok: tf-firewall-open-to-world
    source_address_prefix  = "*"
  }
}
