resource "aws_security_group" "web" {
  name = "web"
  ingress {
    from_port = 22
    to_port   = 22
    protocol  = "tcp"
    # ruleid: tf-ingress-open-to-world
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
    from_port = 443
    to_port   = 443
    protocol  = "tcp"
    # ok: tf-ingress-open-to-world
    cidr_blocks = ["10.0.0.0/8"]
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

resource "aws_vpc_security_group_ingress_rule" "db" {
  security_group_id = aws_security_group.web.id
  # ruleid: tf-ingress-open-to-world
  cidr_ipv4 = "0.0.0.0/0"
  from_port = 5432
  to_port = 5432
  ip_protocol = "tcp"
}

resource "google_compute_firewall" "allow_ssh" {
  name    = "allow-ssh"
  network = "default"
  # ruleid: tf-ingress-open-to-world
  source_ranges = ["0.0.0.0/0"]
}

resource "google_compute_firewall" "office" {
  name    = "office"
  network = "default"
  # ok: tf-ingress-open-to-world
  source_ranges = ["203.0.113.0/24"]
}

resource "azurerm_network_security_rule" "rdp" {
  name      = "rdp"
  direction = "Inbound"
  access    = "Allow"
  # ruleid: tf-ingress-open-to-world
  source_address_prefix = "*"
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
    from_port = 22
    to_port   = 22
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
